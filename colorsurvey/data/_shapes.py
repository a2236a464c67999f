"""Shapes of the rendered NCD-like set (:mod:`colorsurvey.data.synthetic`): signed-distance
helpers, the per-object drawing canvas :class:`_Obj`, and one drawing function per category.

Every function works on (n, H, W) tensors of object coordinates (``u`` right, ``v`` down, the
shape within about [-1, 1]) with per-sample parameters (n, 1, 1), on any device.
"""

from __future__ import annotations

import functools
import math

import torch

_STEM = (0.36, 0.24, 0.11)
_LEAF = (0.24, 0.50, 0.13)

# --------------------------------------------------------------------------------------
# Signed-distance helpers (all on (n, H, W) tensors; parameters (n, 1, 1) or floats)
# --------------------------------------------------------------------------------------

def _f(x, fn) -> float:
    """A float bound from a float or a per-sample tensor (``fn`` = min or max)."""
    return float(getattr(x, "amin" if fn is min else "amax")()) if torch.is_tensor(x) else float(x)


@functools.lru_cache(maxsize=256)
def _scalar(x: float, device: torch.device) -> torch.Tensor:
    return torch.tensor(x, device=device)


def _circle(u, v, cx, cy, r):
    return torch.hypot(u - cx, v - cy) - r


def _ellipse(u, v, a, b):
    """Approximate distance to an ellipse with half-axes a, b (Quilez's gradient form)."""
    x, y = u / a, v / b
    k0 = torch.hypot(x, y)
    k1 = torch.hypot(x / a, y / b).clamp_min_(1e-4)
    return (k0 - 1.0).mul_(k0).div_(k1)


def _seg(u, v, ax, ay, bx, by, ra, rb):
    """Distance to a tapered capsule from (ax, ay) radius ra to (bx, by) radius rb."""
    px, py = u - ax, v - ay
    dx, dy = bx - ax, by - ay
    inv = 1.0 / (dx * dx + dy * dy)
    t = (px * (dx * inv)).add_(py * (dy * inv)).clamp_(0.0, 1.0)
    d = torch.hypot(px.sub_(t * dx), py.sub_(t * dy))
    return d.sub_(t.mul_(rb - ra).add_(ra))


def _smin(a, b, k):
    h = ((b - a) * (0.5 / k)).add_(0.5).clamp_(0.0, 1.0)
    return torch.lerp(b, a, h).sub_(h * (1.0 - h) * k)


def _star(u, v, cx, cy, r_in, r_out, k, phase, sharp, squash=1.0):
    """A k-pointed star (calyx, crown, leaves) around (cx, cy), y squashed for perspective."""
    x, y = u - cx, (v - cy) * squash
    rho = torch.hypot(x, y)
    ang = torch.atan2(y, x) * k + phase
    c = torch.cos(ang).mul_(0.5).add_(0.5)
    cp = c.clamp_min(1e-4).pow_(sharp - 1)
    R = (c * cp).mul_(r_out - r_in).add_(r_in)
    # radial distance, corrected by the angular slope so that edges stay one pixel soft
    dR = cp.mul_(torch.sin(ang)).mul_((r_out - r_in) * sharp * 0.5 * k)
    g = torch.rsqrt(dR.div_(rho.clamp_min(0.02)).square_().add_(1.0))
    return (rho - R).mul_(g * (1.0 / squash ** 0.5))


def _lens(x, y, hl, hw):
    """A pointed leaf along y: the intersection of two discs, half-length hl (y), half-width hw (x)."""
    rr = (hl * hl + hw * hw) / (2.0 * hw)
    return torch.maximum(torch.hypot(x - (rr - hw), y), torch.hypot(x + (rr - hw), y)) - rr


def _dome(d, r):
    """Height of a rounded profile over a silhouette: a sphere cap of radius r."""
    c = d.clamp(max=0.0)
    c = torch.maximum(c, -r) if torch.is_tensor(r) else c.clamp_(min=-r)
    return torch.sqrt((c + 2.0 * r).mul_(c).neg_())


def _frac(x):
    return x - torch.floor(x)


def _rot(u, v, cx, cy, ang):
    c, s = torch.cos(ang), torch.sin(ang)
    x, y = u - cx, v - cy
    return x * c + y * s, y * c - x * s


class _Obj:
    """One category's samples of one object slot, drawn in the object's own frame.

    ``u`` (right) and ``v`` (down) are object coordinates: the shape fits in about [-1, 1].
    ``paint`` composites a part (an SDF, a colour, a height and a gloss) over what is there;
    ``sub(u0, v0, u1, v1)`` is the same object restricted to the pixels that can see that
    box of object coordinates (stems and leaves are drawn there, not over the whole window).
    """

    def __init__(self, u, v, nipx, r, noise, body, sec, part, var, frame=None, r_cpu=None):
        self.u, self.v, self.nipx, self.r = u, v, nipx, r
        self.r_cpu = r.cpu() if r_cpu is None else r_cpu      # the same numbers, for decisions
        self.px = -1.0 / nipx                       # pixel size in object units, (n, 1, 1)
        self.rk = r.view(r.shape[0], -1, 1, 1).unbind(1)
        self.var = var.view(-1, 1, 1)
        self.n1, self.n2, self.n3 = noise
        self.body, self.sec, self.part = body, sec, part
        self.frame = frame            # per sample (col0, row0, cu, cv, ru, rv): column = col0 + cu u + cv v, ...
        self.cov = self.alb = self.gl = self.h = None
        self.parent, self.reg, self.owned = None, None, False

    def R(self, k: int, lo: float = 0.0, hi: float = 1.0):
        return self.rk[k] * (hi - lo) + lo

    def flag(self, k: int, p: float):
        return (self.rk[k] < p).to(self.u.dtype)

    def any(self, k: int, p: float) -> bool:
        """Whether ``flag(k, p)`` holds for any sample (decided on the CPU: no device sync)."""
        return bool((self.r_cpu[:, k] < p).any())

    def is_var(self, i: int):
        return (self.var == i).to(self.u.dtype).view(-1, 1, 1)

    def lod(self, period: float):
        """Texture level of detail: 1 when a pattern's period spans >= 3.5 pixels, 0 below 2.

        Fine patterns (kernels, seeds, buds, grooves) fade out instead of aliasing at low
        resolution.
        """
        return (self.px.reciprocal() * (period / 1.5) - (2.0 / 1.5)).clamp_(0.0, 1.0)

    def mix(self, t, a=None, b=None):
        a = self.body if a is None else a
        b = self.sec if b is None else b
        return torch.lerp(a, b, t.unsqueeze(1))

    def jitter(self, rgb, k: int, amount: float = 0.12):
        c = torch.tensor(rgb, dtype=self.u.dtype, device=self.u.device).view(1, 3, 1, 1)
        return (c * (1.0 + amount * (self.rk[k].unsqueeze(1) - 0.5))).clamp(0.0, 1.0)

    def paint(self, d, color, height, gloss, add: bool = False):
        """Composite a part with signed distance ``d`` over what is drawn ("over" operator).

        Coverage is anti-aliased over one pixel; albedo and gloss are kept un-premultiplied
        (the part's weight is its coverage over the new total coverage); ``add`` puts the
        part's height on top of what is below (leaves, calyces) instead of replacing it.
        """
        a = (d * self.nipx).add_(0.5).clamp_(0.0, 1.0)
        if not torch.is_tensor(gloss):
            gloss = _scalar(float(gloss), d.device)
        if self.cov is None:                       # first part on an empty canvas (tensors shared)
            self.cov, self.alb, self.gl, self.h, self.owned = a, color, gloss, height * a, False
            return a
        cov = self.cov
        newc = torch.addcmul(cov + a, a, cov, value=-1.0)
        w = a / newc.clamp_min(1e-6)
        alb = torch.lerp(self.alb, color, w.unsqueeze(1))
        gl = torch.lerp(self.gl, gloss, w)
        h = torch.addcmul(self.h, height, a) if add else torch.lerp(self.h, height, a)
        if self.parent is None:
            self.cov, self.alb, self.gl, self.h, self.owned = newc, alb, gl, h, True
        else:                                      # a part: write into the parent's pixels
            self.cov.copy_(newc)
            self.alb.copy_(alb)
            self.gl.copy_(gl)
            self.h.copy_(h)
        return a

    def bump(self, amount, where):
        if self.parent is None:
            self.h = torch.addcmul(self.h, amount, where)
        else:
            self.h.addcmul_(amount, where)

    def cut(self, t):
        """A full-window map (n, [C,] h, w) cut to this (sub-)object's pixels."""
        return t if self.reg is None else t[..., self.reg[0], self.reg[1]]

    def sub(self, u0, v0, u1, v1, margin: float = 2.5) -> "_Obj":
        """This object restricted to the window pixels that can see [u0, u1] x [v0, v1]."""
        if self.frame is None or self.parent is not None:
            return self
        ua, ub, va, vb = _f(u0, min), _f(u1, max), _f(v0, min), _f(v1, max)
        cols, rows = [], []
        for c0, r0, cu, cv, ru, rv in self.frame:
            for uu, vv in ((ua, va), (ub, va), (ub, vb), (ua, vb)):
                cols.append(c0 + cu * uu + cv * vv)
                rows.append(r0 + ru * uu + rv * vv)
        n, H, W = self.u.shape
        x0 = max(0, int(math.floor(min(cols) - margin)))
        x1 = min(W, int(math.ceil(max(cols) + margin)) + 1)
        y0 = max(0, int(math.floor(min(rows) - margin)))
        y1 = min(H, int(math.ceil(max(rows) + margin)) + 1)
        if x1 <= x0 or y1 <= y0:
            x0, x1, y0, y1 = 0, 1, 0, 1
        if (x1 - x0) * (y1 - y0) > 0.7 * H * W:
            return self
        ys, xs = slice(y0, y1), slice(x0, x1)
        if not self.owned:                         # parts write in place: own full-size maps first
            self.cov = self.cov.clone()
            self.alb = self.alb.expand(n, 3, H, W).clone()
            self.gl = self.gl.expand(n, H, W).clone()
            self.owned = True
        p = _Obj.__new__(_Obj)
        p.u, p.v, p.px, p.r, p.rk, p.var = self.u[:, ys, xs], self.v[:, ys, xs], self.px, self.r, self.rk, self.var
        p.r_cpu = self.r_cpu
        p.n1, p.n2, p.n3 = self.n1[:, ys, xs], self.n2[:, ys, xs], self.n3[:, ys, xs]
        p.body, p.sec, p.part, p.nipx, p.frame = self.body, self.sec, self.part, self.nipx, None
        p.cov, p.alb, p.gl, p.h = self.cov[:, ys, xs], self.alb[:, :, ys, xs], self.gl[:, ys, xs], self.h[:, ys, xs]
        p.parent, p.reg = self, (ys, xs)
        return p


# --------------------------------------------------------------------------------------
# The 20 categories. Parameter columns 12..31 of ``o.r`` are free for shape variation.
# --------------------------------------------------------------------------------------

def _leaf(o, k, x0, y0, ang, length, width, p):
    """An optional leaf (probability p) growing from (x0, y0) in direction ``ang``."""
    if not o.any(k, p):
        return
    on = o.rk[k] < p
    cx, cy = x0 + 0.5 * length * torch.cos(ang), y0 + 0.5 * length * torch.sin(ang)
    e = 0.5 * length + width
    q = o.sub(_f(cx, min) - e, _f(cy, min) - e, _f(cx, max) + e, _f(cy, max) + e)
    lu, lv = _rot(q.u, q.v, cx, cy, ang)
    d = _ellipse(lu, lv + width * (lu / length) ** 2, 0.5 * length, width)
    d = d + (~on).to(d.dtype) * 10.0
    vein = torch.exp(-(lv * lv) / (0.0006 + 0.5 * q.px ** 2))
    col = q.jitter(_LEAF, k + 1, 0.3) * (1.0 - 0.25 * vein).unsqueeze(1)
    q.paint(d, col, _dome(d, width) * 0.4, 0.25, add=True)


def _stalk(o, x0, y0, x1, y1, r0, r1, color, gloss=0.1, bend=0.0, on=None):
    """A (bent) tapered stalk from (x0, y0) to (x1, y1), drawn in its own sub-window."""
    rm = max(_f(r0, max), _f(r1, max))
    bb = abs(_f(bend, max)) if not torch.is_tensor(bend) else float(bend.abs().amax())
    dv = max(abs(_f(y1, max) - _f(y0, min)), abs(_f(y1, min) - _f(y0, max)))
    eu = rm + bb * dv * dv / 4.0
    q = o.sub(min(_f(x0, min), _f(x1, min)) - eu, min(_f(y0, min), _f(y1, min)) - rm,
              max(_f(x0, max), _f(x1, max)) + eu, max(_f(y0, max), _f(y1, max)) + rm)
    u = q.u + bend * (q.v - y0) * (q.v - y1)
    d = _seg(u, q.v, x0, y0, x1, y1, r0, r1)
    if on is not None:
        d = d + (1.0 - on) * 10.0
    q.paint(d, color, _dome(d, r0), gloss, add=True)


def _apple(o):
    u, v = o.u, o.v
    x = u / o.R(12, 0.95, 1.10)
    top = torch.sigmoid(-8.0 * v)
    d = torch.hypot(x * (1.0 + 0.12 * v), v) - 0.78
    gx = torch.exp(-x * x * 22.0)
    d = d + (o.R(13, 0.10, 0.20) * top + 0.05 * (1.0 - top)) * gx + 0.012 * o.n1
    t = (o.R(14, -0.3, 0.3) + 0.55 * o.n1 + 0.3 * torch.sin(13.0 * x + 3.0 * o.n2) + 0.35 * v).clamp(0.0, 1.0)
    col = o.mix(t) * (1.0 + 0.12 * (o.n3 > 0.72).to(u.dtype)).unsqueeze(1)
    a = o.paint(d, col, _dome(d, 0.78), 0.45)
    o.bump(0.0015 * o.n3, a)
    tx = o.R(15, -0.06, 0.14)
    _stalk(o, 0.0, -0.58, tx, -0.97, 0.042, 0.028, o.part, bend=o.R(16, -0.3, 0.3))
    _leaf(o, 17, tx * 0.6, -0.86, o.R(19, -0.6, 0.1), 0.45, 0.11, 0.35)


def _banana(o):
    u, v = o.u, o.v
    k = o.R(12, 0.30, 0.52)
    y = v + k * (u * u - 0.30)
    g = torch.sqrt(1.0 + (2.0 * k * u) ** 2)
    body = _ellipse(u + 0.04, y - 0.02 * u, 0.80, o.R(13, 0.19, 0.24))
    neck = _seg(u, y, 0.55, 0.0, 0.97, 0.02, 0.11, 0.05)
    d = _smin(body, neck, 0.12) / g
    # ripeness gradient: greenish towards the ends, spots for the spotted variant
    ends = torch.sigmoid((u.abs() - 0.62) * 12.0)
    spots = ((o.n3 + 0.6 * o.n2) > 1.0).to(u.dtype) * o.is_var(1)
    col = o.mix(ends * 0.6 * (1.0 - o.is_var(1)))
    col = col + (o.sec - col) * spots.unsqueeze(1) * 0.85
    col = col * (1.0 + 0.05 * o.n2).unsqueeze(1)
    stalk = torch.sigmoid((u - 0.9) * 30.0)
    col = col + (o.part - col) * stalk.unsqueeze(1)
    a = o.paint(d, col, _dome(d, 0.22), 0.25)
    # longitudinal ridges of the banana's faceted cross-section
    o.bump(-0.012 * torch.exp(-((y - 0.06) ** 2) / 0.0012), a)
    q = o.sub(-0.86, -0.48, -0.74, -0.02)
    tip = _circle(q.u, q.cut(y), -0.80, 0.0, 0.045) / q.cut(g)
    q.paint(tip, o.part * 0.7, _dome(tip, 0.04) + _dome(q.cut(d), 0.22), 0.1)


def _brinjal(o):
    u, v = o.u, o.v
    k = o.R(12, -0.35, 0.35)
    x = u - k * v * v
    g = torch.sqrt(1.0 + (2.0 * k * v) ** 2)
    rt, rb = o.R(13, 0.16, 0.24), o.R(14, 0.34, 0.44)
    d = _seg(x, v, 0.0, -0.48, 0.0, 0.86 - rb, rt, rb) / g
    stripes = (torch.sin(x / rb * 7.0 + 0.8 * o.n2) > 0.45).to(u.dtype) * o.is_var(2)
    t = (0.25 + 0.4 * o.n1).clamp(0.0, 1.0) * 0.35 + stripes * 0.8
    a = o.paint(d, o.mix(t), _dome(d, rb), 0.9)
    o.bump(0.003 * o.n2, a)
    # calyx: green sepals with a jagged lower edge over the top of the fruit
    sep = (0.5 + 0.5 * torch.cos(x / rt * 4.5 + o.R(15, 0, 6.28))).pow(3)
    yb = -0.50 + 0.24 * sep + o.R(16, 0.0, 0.08)
    dc = torch.maximum(d - 0.03, (v - yb) / g)
    col_c = o.part * (0.85 + 0.15 * o.n2).unsqueeze(1)
    o.paint(dc, col_c, _dome(d, rb) + 0.02, 0.2)
    _stalk(o, 0.0, -0.60, o.R(17, -0.12, 0.12), -0.97, 0.075, 0.055, o.part * 0.9, bend=k)


def _broccoli(o):
    u, v = o.u, o.v
    # stalk with two side branches (pale green), painted first
    ds = _seg(u, v, 0.0, 0.0, 0.0, 0.92, 0.21, 0.14)
    b1 = _seg(u, v, 0.0, 0.38, -0.34, 0.02, 0.07, 0.10)
    b2 = _seg(u, v, 0.0, 0.30, 0.36, 0.00, 0.07, 0.10)
    dst = _smin(ds, torch.minimum(b1, b2), 0.08)
    col_s = o.part * (0.92 + 0.08 * o.n2).unsqueeze(1)
    o.paint(dst, col_s, _dome(dst, 0.2), 0.2)
    # head: a scalloped crown of florets
    R0 = o.R(12, 0.56, 0.64)
    x, y = u, (v + 0.24) * 1.15
    rho = torch.hypot(x, y)
    phi = torch.atan2(y, x)
    ph = o.R(13, 0, 6.28)
    Rp = R0 * (1.0 + 0.09 * (torch.sin(3.5 * phi + ph).abs() - 0.6) + 0.03 * torch.sin(11.0 * phi + ph))
    d = (rho - Rp + 0.04 * o.n1) / 1.07
    flor = torch.sin(7.0 * u + 3.0 * o.n1 + ph) * torch.sin(7.0 * v + 3.0 * o.n2)
    crev = torch.sigmoid((flor.abs() - 0.12) * -14.0) * 0.7 + (1.0 - rho / R0).clamp(0, 1) * -0.3
    bud = torch.sin(34.0 * u + 2.0 * o.n2) * torch.sin(34.0 * v + 2.0 * o.n1) * o.lod(2 * math.pi / 34.0)
    col = o.mix(crev.clamp(0.0, 1.0)) * (0.88 + 0.14 * bud + 0.1 * o.n3).unsqueeze(1)
    a = o.paint(d, col, _dome(d, 0.5) + 0.15 * _dome(d, 0.2), 0.06)
    o.bump(0.012 * bud - 0.02 * crev, a)


def _capsicum(o):
    u, v = o.u, o.v
    x = u / o.R(12, 0.92, 1.06)
    y = v * 1.04
    d = (x.abs().pow(3.5) + y.abs().pow(3.5)).pow(1.0 / 3.5) - 0.72
    low = torch.sigmoid((y - 0.25) * 8.0)
    d = d + 0.05 * (torch.cos(x * (3.0 * math.pi / 0.72)) * low) + 0.03 * (1 - low)
    d = d + 0.14 * torch.exp(-x * x * 16.0) * torch.sigmoid(-8.0 * y) + 0.01 * o.n1
    t = (0.35 + 0.5 * o.n1).clamp(0.0, 1.0) * 0.5
    a = o.paint(d, o.mix(t), _dome(d, 0.7), 0.75)
    crease = torch.exp(-((x.abs() - 0.27) ** 2) / 0.004) * (0.6 + 0.4 * low)
    o.bump(-0.05 * crease, a)
    tx = o.R(13, -0.05, 0.2)
    _stalk(o, 0.0, -0.50, tx, -0.93, 0.085, 0.065, o.part, gloss=0.3, bend=o.R(14, -0.4, 0.4))
    q = o.sub(tx - 0.06, -0.99, tx + 0.06, -0.87)
    cap = _circle(q.u, q.v, tx, -0.93, 0.055)
    q.paint(cap, o.part * 0.6 + 0.3, _dome(cap, 0.05) + 0.05, 0.05)


def _carrot(o):
    u, v = o.u, o.v
    k = o.R(12, -0.15, 0.15)
    x = u - k * (v - 0.3) ** 2
    g = torch.sqrt(1.0 + (2.0 * k * (v - 0.3)) ** 2)
    r0 = o.R(13, 0.17, 0.22)
    d = _seg(x, v, 0.0, -0.38, 0.0, 0.95, r0, 0.015) / g
    ring = torch.sin(v * 36.0 + 3.0 * o.n2)
    groove = torch.sigmoid((ring - 0.8) * 20.0) * (0.5 + 0.5 * o.n1).clamp(0, 1) * o.lod(2 * math.pi / 36.0)
    col = o.mix((0.3 + 0.5 * o.n1).clamp(0, 1) * 0.6) * (1.0 - 0.25 * groove).unsqueeze(1)
    a = o.paint(d, col, _dome(d, r0), 0.2)
    o.bump(-0.01 * groove, a)
    # leaves: three feathery stems (probability 0.7) or a cut stub
    leaves = o.flag(14, 0.7)
    green = o.part
    if o.any(14, 0.7):
        q = o.sub(-0.66, -1.24, 0.66, -0.45)
        ends = [(-0.34, -1.06), (0.02, -1.12), (0.36, -1.04)]
        dmin, rib = None, None
        for j, (ex, ey) in enumerate(ends):
            ex = ex + q.R(15 + j, -0.1, 0.1)
            dx, dy = ex, ey + 0.5
            hl = 0.5 * math.hypot(0.2, ey + 0.5)
            lu, lv = _rot(q.u, q.v, 0.5 * ex, -0.5 + 0.5 * dy, torch.atan2(torch.full_like(ex, dy), dx))
            dj = _lens(lv, lu, hl, 0.1) + 0.025 * torch.sin(lu * 55.0).abs()      # serrated frond
            rj = lv.abs()
            dmin, rib = (dj, rj) if dmin is None else (torch.minimum(dmin, dj), torch.minimum(rib, rj))
        dmin = dmin + (1.0 - leaves) * 10.0
        col_l = green * (0.75 + 0.25 * (rib * 25.0).clamp(0.0, 1.0) + 0.1 * q.n2).unsqueeze(1)
        q.paint(dmin, col_l, _dome(dmin, 0.05), 0.1, add=True)
    _stalk(o, 0.0, -0.5, 0.0, -0.64, 0.07, 0.05, green * 0.8 + 0.1, on=1.0 - leaves)


def _cherry(o):
    u, v = o.u, o.v
    pair = o.flag(12, 0.45)
    c1x, c1y, r1 = -0.40 * pair, 0.40 + 0.06 * pair, 0.52 - 0.12 * pair
    c2x, c2y, r2 = 0.40 + 0.0 * pair, o.R(13, 0.34, 0.50), o.R(14, 0.36, 0.42)
    d1 = _circle(u, v, c1x, c1y, r1)
    d1 = d1 + 0.07 * torch.exp(-((u - c1x) ** 2) * 40.0) * torch.sigmoid(-(v - c1y) * 8.0)
    d2 = _circle(u, v, c2x, c2y, r2)
    d2 = d2 + 0.07 * torch.exp(-((u - c2x) ** 2) * 40.0) * torch.sigmoid(-(v - c2y) * 8.0) + (1.0 - pair) * 10.0
    d = torch.minimum(d1, d2)
    bottom = (torch.sigmoid((v - c1y) * 4.0) * 0.6 + 0.25 * o.n1).clamp(0, 1)
    blush = o.is_var(2) * (0.6 + 0.6 * o.n1 - 0.4 * v).clamp(0, 1)
    col = o.mix((bottom * (1.0 - o.is_var(2)) + blush).clamp(0, 1))
    o.paint(d, col, torch.maximum(_dome(d1, r1), _dome(d2, 0.42)), 0.9)
    tx, ty = o.R(15, -0.1, 0.25), -0.97
    _stalk(o, c1x, c1y - r1 + 0.07, tx, ty, 0.028, 0.022, o.part, bend=o.R(16, -0.5, 0.5))
    if o.any(12, 0.45):
        _stalk(o, c2x, c2y - r2 + 0.07, tx, ty, 0.026, 0.022, o.part, bend=0.3, on=pair)


def _chilli(o):
    u, v = o.u, o.v
    k = o.R(12, 0.05, 0.24)
    x = u - k * ((v + 0.55) ** 2 - 0.8)
    g = torch.sqrt(1.0 + (2.0 * k * (v + 0.55)) ** 2)
    r0 = o.R(13, 0.10, 0.135)
    d = _seg(x, v, 0.0, -0.52, 0.0, 0.93, r0, 0.012) / g
    t = (0.3 + 0.5 * o.n1).clamp(0, 1) * 0.4
    a = o.paint(d, o.mix(t), _dome(d, r0), 0.8)
    o.bump(0.003 * o.n2, a)
    cap = torch.maximum(d - 0.022, (v + 0.45 + 0.03 * torch.sin(x * 40.0)) / g)
    o.paint(cap, o.part, _dome(d, r0) + 0.02, 0.3)
    x0 = -0.8 * k
    _stalk(o, x0, -0.56, x0 + o.R(15, -0.16, 0.08), -0.99, 0.04, 0.03, o.part * 0.95, bend=o.R(14, -1.0, 1.0))


def _corn(o):
    u, v = o.u, o.v
    rt, rb = o.R(12, 0.25, 0.31), o.R(13, 0.32, 0.37)
    d = _seg(u, v, 0.0, -0.58, 0.0, 0.55, rt, rb)
    d = torch.maximum(d, v - 0.78)
    t = ((v + 0.58) / 1.13).clamp(0.0, 1.0)
    w = rt + (rb - rt) * t
    ang = torch.asin((u / w).clamp(-0.999, 0.999))
    col_k = ang * (14.0 / math.pi)
    row = v * 10.0
    cu = _frac(col_k) - 0.5
    cv = _frac(row + 0.5 * (torch.floor(col_k) % 2.0)) - 0.5
    kern = torch.lerp(torch.full_like(cu, 0.6), (1.0 - 3.2 * (cu * cu + 0.8 * cv * cv)).clamp(0.0, 1.0), o.lod(0.1))
    # variant 3: the cob still in its husk - long pale leaves with fine veins instead of kernels
    inhusk = o.is_var(3)
    veins = 0.75 + 0.25 * torch.sin(ang * 9.0 + 2.0 * o.n2) * o.lod(0.06)
    kern = torch.lerp(kern, veins, inhusk)
    shade = (0.55 + 0.45 * kern) * (1.0 + 0.08 * o.n3)
    col = o.mix((1.0 - kern).pow(2) * 0.8 * (1.0 - inhusk)) * shade.unsqueeze(1)
    a = o.paint(d, col, _dome(d, rb), 0.35 - 0.25 * inhusk)
    o.bump(0.025 * kern, a)
    # stalk stub at the base, and husk leaves on some cobs
    _stalk(o, 0.0, 0.72, 0.0, 0.98, 0.12, 0.10, o.part * 0.8 + 0.15, gloss=0.05)
    husk = o.flag(14, 0.45)
    hd = None
    for j, sgn in enumerate((-1.0, 1.0)):
        hl, hw = o.R(15 + j, 0.42, 0.58), 0.16
        hu, hv = _rot(u, v, sgn * rb * 0.78, 0.62 - hl, torch.full_like(rt, -sgn * 0.12))
        dh = _lens(hu, hv, hl, hw)
        hd = dh if hd is None else torch.minimum(hd, dh)
    hd = hd + (1.0 - husk) * 10.0
    vein = 0.92 + 0.08 * torch.sin(u * 70.0) + 0.05 * o.n2
    o.paint(hd, o.part * vein.unsqueeze(1), _dome(hd, 0.12) + 0.06, 0.15, add=True)


def _cucumber(o):
    u, v = o.u, o.v
    k = o.R(12, -0.12, 0.12)
    x = u - k * v * v
    g = torch.sqrt(1.0 + (2.0 * k * v) ** 2)
    ra, rb = o.R(13, 0.19, 0.23), o.R(14, 0.22, 0.27)
    d = _seg(x, v, 0.0, -0.70, 0.0, 0.70, ra, rb) / g
    w = ra + (rb - ra) * ((v + 0.7) / 1.4).clamp(0, 1)
    ang = torch.asin((x / w).clamp(-0.999, 0.999))
    stripe = (torch.sin(ang * 5.0 + 1.5 * o.n2) * 0.5 + 0.5).pow(3) * (0.35 + 0.65 * torch.sigmoid(v * 3.0))
    warts = (o.n3 > 0.68).to(u.dtype)
    col = o.mix((stripe + 0.4 * warts).clamp(0, 1))
    a = o.paint(d, col, _dome(d, rb), 0.45)
    o.bump(0.012 * warts, a)
    _stalk(o, 0.0, -0.85, 0.03, -0.99, 0.05, 0.04, o.part)


def _ladyfinger(o):
    u, v = o.u, o.v
    k = o.R(12, -0.15, 0.15)
    x = u - k * (v - 0.2) ** 2
    g = torch.sqrt(1.0 + (2.0 * k * (v - 0.2)) ** 2)
    rt = o.R(13, 0.13, 0.16)
    d = _seg(x, v, 0.0, -0.56, 0.0, 0.94, rt, 0.014) / g
    w = rt * (1.0 - ((v + 0.56) / 1.5).clamp(0, 1) * 0.9)
    ang = torch.asin((x / w).clamp(-0.999, 0.999))
    ridge = torch.cos(ang * 5.0 + o.R(14, 0, 6.28))
    col = o.mix((0.5 - 0.5 * ridge) * 0.7 + 0.2 * o.n2.clamp(0, 1))
    a = o.paint(d, col, _dome(d, rt), 0.1)
    o.bump(0.014 * ridge * w / rt, a)
    cap = torch.maximum(d - 0.02, (v + 0.48 + 0.02 * torch.sin(x * 50.0)) / g)
    o.paint(cap, o.part, _dome(d, rt) + 0.02, 0.1)
    _stalk(o, 0.0, -0.60, o.R(15, -0.05, 0.08), -0.97, 0.045, 0.035, o.part, bend=o.R(16, -0.6, 0.6))


def _lemon(o):
    u, v = o.u, o.v
    a_, b_ = o.R(12, 0.64, 0.72), o.R(13, 0.50, 0.58)
    d = _ellipse(u, v, a_, b_)
    l1, l2 = o.R(14, 0.08, 0.15), o.R(15, 0.03, 0.11)
    n1 = _seg(u, v, a_ - 0.12, 0.0, a_ + l1, 0.0, 0.13, 0.055)
    n2 = _seg(u, v, -a_ + 0.12, 0.0, -a_ - l2, 0.0, 0.13, 0.06)
    d = _smin(d, torch.minimum(n1, n2), 0.12) + 0.006 * o.n1
    t = ((0.35 + 0.6 * o.n1).clamp(0, 1) * 0.5 + torch.sigmoid((u.abs() - a_) * 12.0) * 0.5)
    col = o.mix(t) * (1.0 + 0.04 * o.n3).unsqueeze(1)
    a = o.paint(d, col, _dome(d, b_), 0.4)
    o.bump(0.0025 * o.n3, a)


def _orange(o):
    u, v = o.u, o.v
    d = torch.hypot(u, v * o.R(12, 0.98, 1.06)) - 0.8 + 0.008 * o.n1
    t = (0.3 + 0.6 * o.n1).clamp(0, 1) * 0.6
    col = o.mix(t) * (1.0 + 0.05 * o.n3).unsqueeze(1)
    a = o.paint(d, col, _dome(d, 0.8), 0.35)
    o.bump(0.0035 * o.n3, a)
    sy = o.R(13, -0.74, -0.1)
    q = o.sub(-0.18, -0.82, 0.18, -0.02)
    scar = _star(q.u, q.v, o.R(14, -0.1, 0.1), sy, 0.03, 0.07, 5.0, o.R(15, 0, 6.28), 2.0)
    q.paint(scar, o.part, torch.zeros_like(scar), 0.05, add=True)


def _peach(o):
    u, v = o.u, o.v
    d = torch.hypot(u, v * 0.98) - 0.78
    d = d + 0.07 * torch.exp(-((u - 0.06) ** 2) * 60.0) * torch.sigmoid(-8.0 * (v + 0.3)) + 0.01 * o.n1
    sx = u - 0.14 - 0.12 * v - o.R(12, -0.06, 0.06)
    suture = torch.exp(-(sx * sx) / 0.0025) * torch.sigmoid(-(v - 0.55) * 8.0)
    t = (o.R(13, -0.1, 0.4) + 0.6 * o.n1 + 0.45 * (-u - v) + 0.1 * o.n2).clamp(0, 1)
    col = o.mix(t) * (1.0 - 0.05 * suture + 0.03 * o.n3).unsqueeze(1)
    a = o.paint(d, col, _dome(d, 0.78), 0.08)
    o.bump(-0.03 * suture, a)
    _stalk(o, 0.06, -0.66, 0.08, -0.8, 0.04, 0.035, o.part)
    _leaf(o, 14, 0.08, -0.78, o.R(16, -0.6, 0.0), 0.5, 0.13, 0.4)


def _pear(o):
    u, v = o.u, o.v
    lean = o.R(12, -0.12, 0.12)
    x = u - lean * (v - 0.3)
    d = _smin(_circle(x, v, 0.0, 0.32, o.R(13, 0.52, 0.6)), _circle(x, v, 0.0, -0.36, o.R(14, 0.26, 0.33)), 0.35)
    t = (o.R(15, -0.3, 0.3) + 0.7 * o.n1 - 0.3 * x).clamp(0, 1)
    speck = (o.n3 > 1.05).to(u.dtype)
    col = o.mix(t) * (1.0 - 0.18 * speck).unsqueeze(1)
    a = o.paint(d, col, _dome(d, 0.55), 0.25)
    o.bump(0.0015 * o.n3, a)
    tx = o.R(16, -0.05, 0.18)
    _stalk(o, lean * -0.92, -0.62, tx, -0.98, 0.035, 0.025, o.part, bend=o.R(17, -0.5, 0.5))


def _plum(o):
    u, v = o.u, o.v
    d = _ellipse(u, v, o.R(12, 0.62, 0.70), o.R(13, 0.70, 0.78))
    d = d + 0.05 * torch.exp(-(u * u) * 50.0) * torch.sigmoid(-8.0 * (v + 0.3)) + 0.006 * o.n1
    sx = u - 0.16 - 0.1 * v
    suture = torch.exp(-(sx * sx) / 0.004) * torch.sigmoid(-(v - 0.5) * 8.0)
    bloom = ((0.2 + 0.6 * o.n2).clamp(0, 1) * 0.55 * (1.0 - o.is_var(1) * 0.5))
    col = o.mix(bloom) * (1.0 - 0.15 * suture).unsqueeze(1)
    a = o.paint(d, col, _dome(d, 0.66), 0.45 - 0.4 * bloom)
    o.bump(-0.04 * suture, a)
    _stalk(o, 0.0, -0.68, o.R(14, -0.05, 0.12), -0.92, 0.03, 0.025, o.part, bend=0.3)


def _pomegranate(o):
    u, v = o.u, o.v
    rho = torch.hypot(u, v * 1.02)
    phi = torch.atan2(v, u)
    d = rho - 0.74 * (1.0 + 0.015 * torch.cos(6.0 * phi + o.R(12, 0, 6.28))) + 0.01 * o.n1
    t = (o.R(13, -0.3, 0.2) + 0.8 * o.n1 + 0.3 * o.n2).clamp(0, 1)
    col = o.mix(t) * (1.0 + 0.06 * o.n3).unsqueeze(1)
    a = o.paint(d, col, _dome(d, 0.74), 0.2)
    o.bump(0.004 * o.n3, a)
    # crown: a flared tube with pointed teeth on top
    top = o.R(14, -1.04, -0.96)
    q = o.sub(-0.27, -1.06, 0.27, -0.58)
    u, v = q.u, q.v
    hw = 0.13 + 0.12 * ((-v - 0.68) / (-0.68 - top)).clamp(0.0, 1.0)
    yt = top + 0.13 * (0.5 + 0.5 * torch.cos(u * (math.pi * 5.0 / 0.25)))
    dcr = torch.maximum(torch.maximum(u.abs() - hw, v + 0.6), yt - v)
    col_c = o.part * (0.9 + 0.2 * q.n2).unsqueeze(1)
    q.paint(dcr, col_c, _dome(dcr, 0.06) + 0.05, 0.1, add=True)


def _potato(o):
    u, v = o.u, o.v
    a_, b_ = o.R(12, 0.76, 0.90), o.R(13, 0.50, 0.64)
    d = _ellipse(u, v, a_, b_) + 0.07 * o.n1 + 0.02 * o.n2
    e = torch.zeros_like(u)
    for j in range(4):
        ex, ey = o.R(14 + 2 * j, -0.6, 0.6) * a_, o.R(15 + 2 * j, -0.6, 0.6) * b_
        e = e + torch.exp(-((u - ex) ** 2 + (v - ey) ** 2) / 0.0025)
    e = e.clamp(0, 1)
    t = (0.3 + 0.6 * o.n2 + 0.4 * o.n3).clamp(0, 1)
    col = o.mix(t)
    col = col + (o.part - col) * e.unsqueeze(1)
    col = col * (1.0 + 0.06 * o.n3).unsqueeze(1)
    a = o.paint(d, col, _dome(d, 0.5), 0.04)
    o.bump(-0.03 * e + 0.006 * o.n3, a)


def _strawberry(o):
    u, v = o.u, o.v
    x = u / o.R(12, 0.9, 1.08)
    d = _smin(_circle(x, v, 0.0, -0.2, 0.52), _seg(x, v, 0.0, -0.1, 0.0, o.R(17, 0.55, 0.66), 0.44, 0.13), 0.2)
    d = torch.maximum(d, -(v + 0.62))
    row = (v + 1.0) * 9.0
    cu = _frac(x * 8.0 + 0.5 * (torch.floor(row) % 2.0)) - 0.5
    cv = _frac(row) - 0.5
    rs = torch.sqrt(cu * cu + 1.6 * cv * cv)
    seed = (0.5 - (rs - 0.14) / (o.px * 9.0)).clamp(0.0, 1.0) * o.lod(1.0 / 9.0)
    col = o.body * (1.0 + 0.08 * o.n2).unsqueeze(1)
    col = col + (o.sec - col) * seed.unsqueeze(1)
    a = o.paint(d, col, _dome(d, 0.5), 0.55)
    o.bump((-0.012 * torch.exp(-rs * rs / 0.05) + 0.006 * seed) * o.lod(1.0 / 9.0), a)
    # calyx (seen from slightly above) and stalk
    q = o.sub(-0.48, -0.9, 0.48, -0.3)
    ds = _star(q.u, q.v, 0.0, -0.6, 0.10, o.R(13, 0.36, 0.46), o.R(14, 5.0, 7.0).round(), o.R(15, 0, 6.28), 3.0, 1.7)
    col_l = o.part * (0.85 + 0.2 * q.n2).unsqueeze(1)
    q.paint(ds, col_l, _dome(ds, 0.1) * 0.5 + 0.06, 0.2, add=True)
    _stalk(o, 0.0, -0.62, o.R(16, -0.08, 0.12), -0.96, 0.04, 0.033, o.part, bend=o.R(18, -0.5, 0.5))


def _tomato(o):
    u, v = o.u, o.v
    x = u / o.R(12, 1.05, 1.18)
    rho = torch.hypot(x, v)
    phi = torch.atan2(v, x)
    ph = o.R(13, 0, 6.28)
    d = rho - 0.72 * (1.0 + 0.012 * torch.cos(5.0 * phi + ph))
    d = d + 0.06 * torch.exp(-x * x * 25.0) * torch.sigmoid(-8.0 * v)
    yc = (v + 0.55) * 1.8
    rib = torch.cos(5.0 * torch.atan2(yc, x) + ph) * torch.exp(-(x * x + yc * yc) / 0.25)
    shoulder = torch.sigmoid(-(v + 0.35) * 6.0) * o.R(14, 0.0, 0.7)
    col = o.mix((shoulder + 0.2 * o.n1).clamp(0, 1))
    a = o.paint(d, col, _dome(d, 0.72), 0.65)
    o.bump(0.015 * rib + 0.0015 * o.n3, a)
    q = o.sub(-0.38, -0.78, 0.38, -0.32)
    cal = _star(q.u, q.v, 0.0, -0.55, 0.06, o.R(15, 0.28, 0.36), o.R(16, 5.0, 6.0).round(), ph, 5.0, 1.8)
    q.paint(cal, o.part, _dome(cal, 0.06) * 0.5 + 0.04, 0.2, add=True)
    _stalk(o, 0.0, -0.56, o.R(17, -0.08, 0.08), -0.80, 0.05, 0.042, o.part, bend=o.R(18, -0.5, 0.5))


_DRAW = [
    _apple, _banana, _brinjal, _broccoli, _capsicum, _carrot, _cherry, _chilli, _corn, _cucumber,
    _ladyfinger, _lemon, _orange, _peach, _pear, _plum, _pomegranate, _potato, _strawberry, _tomato,
]
