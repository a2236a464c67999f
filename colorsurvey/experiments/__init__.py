"""Experiments that are not a method: they train or evaluate methods to show something the
survey or a paper argues (imported by the notebooks; each module is independent).

* :mod:`.hints` — PSNR against the number of user hints (Zhang et al. 2017, Fig. 6), §2.2;
* :mod:`.depth` — (DE)²CO's depth-recognition experiment in miniature, §2.1.3;
* :mod:`.stages` — splitting a step budget over a method's training stages (Instance-aware, §2.7.3).
* :mod:`.fewshot` — MemoPainter's few-shot setting: ~10 images of one category (§2.5.6).
"""
