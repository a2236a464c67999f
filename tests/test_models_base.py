import pytest
import torch

from colorsurvey import models
from colorsurvey.models.base import TAXONOMY


def test_registry_lists_and_builds_every_method_at_every_size():
    keys = models.list_models()
    assert {"gray", "mean-ab", "unet"} <= set(keys)
    for key in keys:
        cls = models.get_class(key)
        assert cls.card.key == key and cls.card.taxonomy in TAXONOMY
        assert "paper" in cls.sizes and cls.card.section
        for size in cls.sizes:
            if size == "paper" and key not in ("gray", "mean-ab", "unet"):
                continue  # paper sizes of the big methods are built in their own tests
            m = models.create(key, size=size)
            assert m.size_name == size


def test_unknown_key_and_size_are_explained():
    with pytest.raises(KeyError, match="unknown method"):
        models.create("no-such-method")
    with pytest.raises(KeyError, match="available"):
        models.create("unet", size="gigantic")


def test_mean_ab_measures_training_mean(tiny):
    m = models.create("mean-ab")
    batches = [tiny.batch(range(0, 8)), tiny.batch(range(8, 16))]
    m.fit_statistics(batches)
    all_ab = torch.cat([b["ab"] for b in batches])
    assert torch.allclose(m.mean_ab, all_ab.mean(dim=(0, 2, 3)), atol=1e-4)
    pred = m.colorize(torch.zeros(1, 1, 5, 5))
    assert torch.allclose(pred[0, :, 2, 2], m.mean_ab)


def test_accepts_follows_kwargs_to_base_classes():
    assert models.accepts("deep-exemplar", "references")  # declared on the exemplar base class
    assert not models.accepts("unet", "references")
    assert models.accepts("unet", "width")


def test_create_passes_references_only_to_methods_that_take_them():
    import colorsurvey.models.exemplar  # noqa: F401  (registers the exemplar methods)
    from colorsurvey.data.synthetic import SyntheticNCD

    pool = SyntheticNCD("train", size=32, n=8)
    assert models.create("unet", size="smoke", references=pool) is not None      # ignored, no TypeError
    assert models.create("deep-exemplar", size="smoke", references=pool).references is not None
