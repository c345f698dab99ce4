"""The tests every elementwise loss kernel (mse_loss, l1_loss, ...) takes, written once:
``tests/test_<stem>.py`` subclasses :class:`ElementwiseLossSuite` (a class pytest collects
only under a ``Test`` name) and states the loss, its options, its data and its tolerance.

What is checked, per loss and per option set:

- the kernel against its float64 twin on random data at awkward shapes (0-d, 1, primes,
  empty, sizes off the 8-lane and 4096-chunk grids, and above the 32768-element parallel
  threshold), every reduction, every ISA path and 1 and 2 threads, with a new gradient
  array, one given, the gradient written over the input itself and the gradient skipped;
- bitwise the same loss and gradient at 1 and 2 threads;
- the twin's gradient against central finite differences of the twin's loss (away from
  the loss's kinks, where the derivative jumps and no difference quotient converges);
- autograd through ``F.<function>`` and ``nn.<Module>`` against the twin's gradient,
  upstream gradients included;
- the twin against PyTorch in float64 when it is installed;
- bad inputs common to all of them (shapes, reduction, the gradient destination).

Tolerance (kernel vs twin), unless a suite says more: each kernel forms d = pred - target
(exact in double), the loss and derivative of d in double with no cancellation (|d| -
delta/2 >= |d|/2 on the linear branches), reduces in double (n terms, error ~n 2**-53
relative) and rounds each result to float32 once: within 1 float ulp (2**-24 = 6e-8
relative) of the twin. RTOL = 1e-6 (16x margin), ATOL = 0. Autograd multiplies by the
upstream gradient in float32: one more rounding, the same RTOL covers it.
"""
import numpy as np
import pytest

import fastmlp
from fastmlp import Tensor, kernels, nn, reference
from helpers import fd_grad, signature_params

SHAPES = [(), (1,), (2,), (7, 13), (0,), (3, 0, 2), (64, 10), (5, 3, 11), (4097,),
          (200, 300), (3, 65537)]
REDUCTIONS = ["mean", "sum", "none"]
#: above this many elements test_against_twin runs only a suite's first option set (list the
#: richest first): the chunked, threaded reduction is the shared skeleton's, not the option's
LARGE = 8192
FD_SHAPES = [(1,), (7, 13), (2, 3, 5)]
FD_EPS = 1e-6
# Central differences of f = sum(G * loss) in float64: truncation ~eps^2 |f'''| / 6 (~1e-12
# here) plus rounding: f is a sum of terms of total size S = sum(|G * loss|), each
# evaluation off by up to ~k 2**-53 S (k roundings per term; 16 is generous), so the
# quotient is off by up to 2 * 16 * 2**-53 * S / (2 eps). atol = FD_ATOL + that.
FD_RTOL, FD_ATOL = 1e-6, 1e-8
#: how far (in |d|) the finite-difference data keeps from a kink
KINK_MARGIN = 1e-3


class ElementwiseLossSuite:
    name = ""            #: the kernel's name: kernels.<name>, reference.<name>
    function = None      #: fastmlp.functional's function (PyTorch's name)
    module = None        #: the nn class
    option_sets = [{}]   #: keyword options of the kernel/twin (delta=...), each tested; richest first
    pred_name, grad_name = "pred", "dpred"
    target_grad = True   #: does F.<function> give the target a gradient?
    RTOL, ATOL = 1e-6, 0.0
    #: (options, the argument the ValueError names): rejected by kernel, twin and module
    bad_options = []
    #: (options, d = pred - target, the losses, the gradient) at reduction "none", exactly
    known_values = []
    #: (module keyword arguments, its repr) showing the options that differ from the defaults
    repr_example = ({"reduction": "sum"}, None)

    # -- what a suite may override --
    def data(self, rng, shape):
        """(pred, target) float32 of ``shape``."""
        pred = np.asarray(rng.standard_normal(shape), np.float32)
        target = np.asarray(rng.standard_normal(shape) * 3, np.float32)
        return pred, target

    def options_for(self, shape, rng=None):
        """The option sets to test on data of ``shape`` (rng: the test's generator, when it
        has one)."""
        return self.option_sets

    def kinks(self, options):
        """The |pred - target| where the loss's derivative is not smooth."""
        return []

    def module_options(self, options):
        """The nn constructor's keyword arguments for the kernel's ``options``."""
        return options

    # -- machinery --
    def kernel(self, *args, **kw):
        return getattr(kernels, self.name)(*args, **kw)

    def twin(self, *args, **kw):
        return getattr(reference, self.name)(*args, **kw)

    def grad_kw(self, value):
        return {self.grad_name: value}

    def check(self, got, ref, shape, reduction):
        loss, grad = got
        rloss, rgrad = ref
        if reduction == "none":
            assert loss.dtype == np.float32 and loss.shape == shape
        else:
            assert isinstance(loss, float)
        np.testing.assert_allclose(loss, rloss, rtol=self.RTOL, atol=self.ATOL)
        assert grad.dtype == np.float32 and grad.shape == shape
        np.testing.assert_allclose(grad, rgrad, rtol=self.RTOL, atol=self.ATOL)

    # -- the tests --
    def test_signature_extends_reference(self):
        ours, ref = signature_params(self.name)
        assert ours[: len(ref)] == ref
        assert [p.name for p in ours[len(ref):]] == [self.grad_name]

    @pytest.mark.parametrize("reduction", REDUCTIONS)
    @pytest.mark.parametrize("shape", SHAPES)
    def test_against_twin(self, rng, isa, threads, shape, reduction):
        option_sets = self.options_for(shape, rng)
        if np.prod(shape) > LARGE:  # the parallel path is the skeleton's: one option set
            option_sets = option_sets[:1]
        for options in option_sets:
            pred, target = self.data(rng, shape)
            kw = dict(reduction=reduction, **options)
            ref = self.twin(pred, target, **kw)
            p0, t0 = pred.copy(), target.copy()
            self.check(self.kernel(pred, target, **kw), ref, shape, reduction)
            np.testing.assert_array_equal(pred, p0)
            np.testing.assert_array_equal(target, t0)

            out = np.full(shape, np.nan, np.float32)
            got = self.kernel(pred, target, **kw, **self.grad_kw(out))
            assert got[1] is out
            self.check(got, ref, shape, reduction)

            loss, none = self.kernel(pred, target, **kw, **self.grad_kw(False))
            assert none is None
            np.testing.assert_allclose(loss, ref[0], rtol=self.RTOL, atol=self.ATOL)

            for inplace in (pred, target):  # the gradient over an input, read before written
                got = self.kernel(pred, target, **kw, **self.grad_kw(inplace))
                assert got[1] is inplace
                self.check(got, ref, shape, reduction)
                pred[...], target[...] = p0, t0

    def test_empty_mean_is_nan(self):
        for options in self.options_for((0,)):
            loss, d = self.kernel(np.zeros(0, np.float32), np.zeros(0, np.float32), **options)
            assert np.isnan(loss) and d.shape == (0,)
        for options in self.options_for((2, 0)):
            assert self.kernel(np.zeros((2, 0)), np.zeros((2, 0)), reduction="sum",
                               **options)[0] == 0.0

    def test_bitwise_1_vs_2_threads(self, rng, thread_count):
        for options in self.options_for((1 << 20 | 77,), rng):
            pred, target = self.data(rng, (1 << 20 | 77,))
            res = {}
            for t in (1, 2):
                thread_count(t)
                res[t] = [self.kernel(pred, target, reduction=r, **options) for r in REDUCTIONS]
            for (l1, d1), (l2, d2) in zip(res[1], res[2]):
                assert np.array_equal(l1, l2) and np.array_equal(d1, d2)

    @pytest.mark.parametrize("reduction", REDUCTIONS)
    @pytest.mark.parametrize("shape", FD_SHAPES)
    def test_twin_gradient_by_finite_differences(self, rng, shape, reduction):
        for options in self.options_for(shape, rng):
            pred, target = (a.astype(np.float64) for a in self.data(rng, shape))
            for k in self.kinks(options):  # step off the kinks, keeping the sign of d
                d = pred - target
                near = np.abs(np.abs(d) - k) < KINK_MARGIN
                pred[near] += np.where(d[near] >= 0, 1, -1) * 4 * KINK_MARGIN
            kw = dict(reduction=reduction, **options)
            loss, grad = self.twin(pred, target, **kw)
            assert grad.shape == shape
            if reduction == "none":
                assert loss.shape == shape
            else:
                assert type(loss) is float
            G = rng.standard_normal(shape) if reduction == "none" else 1.0
            num = fd_grad(lambda z: float(np.sum(G * self.twin(z, target, **kw)[0])), pred,
                          eps=FD_EPS)
            S = float(np.sum(np.abs(G * loss)))
            atol = FD_ATOL + 16 * 2.0 ** -53 * S / FD_EPS
            np.testing.assert_allclose(G * grad, num, rtol=FD_RTOL, atol=atol)

    @pytest.mark.parametrize("reduction", REDUCTIONS)
    @pytest.mark.parametrize("via", ["functional", "module"])
    def test_autograd(self, rng, via, reduction):
        for options in self.options_for((5, 3), rng):
            pred, target = self.data(rng, (5, 3))
            pt = Tensor(pred, requires_grad=True)
            tt = Tensor(target, requires_grad=self.target_grad)
            if via == "functional":
                loss = type(self).function(pt, tt, reduction=reduction, **options)
            else:
                loss = self.module(reduction=reduction, **self.module_options(options))(pt, tt)
            rloss, rgrad = self.twin(pred, target, reduction=reduction, **options)
            np.testing.assert_allclose(loss.data, rloss, rtol=self.RTOL, atol=self.ATOL)
            G = rng.standard_normal((5, 3)).astype(np.float32) if reduction == "none" else None
            loss.backward(G)
            want = rgrad * (1.0 if G is None else G)
            np.testing.assert_allclose(pt.grad, want, rtol=self.RTOL, atol=self.ATOL)
            if self.target_grad:
                np.testing.assert_allclose(tt.grad, -want, rtol=self.RTOL, atol=self.ATOL)
            with fastmlp.no_grad():
                assert type(self).function(pt, tt, reduction=reduction, **options).grad_fn is None

    @pytest.mark.parametrize("reduction", REDUCTIONS)
    def test_twin_matches_torch(self, rng, reduction):
        """The twin against PyTorch in float64 (skipped without it): same formulas, other
        summation orders, so 1e-12 relative."""
        torch = pytest.importorskip("torch")
        for options in self.options_for((7, 13), rng):
            pred, target = (a.astype(np.float64) for a in self.data(rng, (7, 13)))
            loss, grad = self.twin(pred, target, reduction=reduction, **options)
            x = torch.tensor(pred, requires_grad=True)
            tl = self.torch_call(torch, x, torch.tensor(target), reduction, options)
            tl.sum().backward()
            np.testing.assert_allclose(loss, tl.detach().numpy(), rtol=1e-12, atol=1e-13)
            np.testing.assert_allclose(grad, x.grad.numpy(), rtol=1e-12, atol=1e-13)

    def torch_call(self, torch, x, t, reduction, options):
        """PyTorch's loss of x against t (torch.nn.functional.<function>)."""
        return getattr(torch.nn.functional, type(self).function.__name__)(
            x, t, reduction=reduction, **options)

    def test_module_repr_and_defaults(self):
        m = self.module()
        assert m.reduction == "mean"
        assert repr(m) == f"{self.module.__name__}()"
        assert f"reduction='sum'" in repr(self.module(reduction="sum"))
        with pytest.raises(ValueError, match="reduction"):
            self.module(reduction="elementwise")

    def test_known_values(self):
        """Hand-computed cases (branches and their boundaries); exact in float32."""
        for options, d, losses, grads in self.known_values:
            pred = np.asarray(d, np.float32)
            loss, g = self.kernel(pred, np.zeros_like(pred), reduction="none", **options)
            np.testing.assert_array_equal(loss, losses)
            np.testing.assert_array_equal(g, grads)

    def test_module_repr_with_options(self):
        kw, want = self.repr_example
        m = self.module(**kw)
        assert repr(m) == (want or f"{self.module.__name__}(reduction='sum')")
        assert m._save_config() == {**m._save_config(), **kw}

    def test_bad_options(self):
        p = np.zeros(3, np.float32)
        for options, arg in self.bad_options:
            for fn in (self.kernel, self.twin):
                with pytest.raises(ValueError, match=arg):
                    fn(p, p, **options)
            with pytest.raises(ValueError, match=arg):
                self.module(**self.module_options(options))

    # -- bad input common to every elementwise loss --
    def test_bad_target_shape_and_types(self):
        p = np.zeros((3, 4), np.float32)
        for options in self.options_for((3, 4)):
            with pytest.raises(ValueError, match="target"):
                self.kernel(p, np.zeros((4, 3), np.float32), **options)
            with pytest.raises(ValueError, match="target"):
                self.kernel(p, np.zeros((1, 4), np.float32), **options)  # no broadcasting
            with pytest.raises(TypeError, match=self.pred_name):
                self.kernel("pred", p, **options)
            with pytest.raises(TypeError, match="target"):
                self.kernel(p, np.zeros((3, 4), complex), **options)
            with pytest.raises(ValueError, match="target"):
                self.twin(p, np.zeros((1, 4)), **options)

    def test_bad_reduction(self):
        p = np.zeros((3, 4), np.float32)
        for options in self.options_for((3, 4)):
            for fn in (self.kernel, self.twin):
                with pytest.raises(ValueError, match="reduction"):
                    fn(p, p, reduction="elementwise", **options)

    def test_bad_gradient_destination(self):
        p = np.zeros((3, 4), np.float32)
        g = self.grad_name
        ro = np.zeros((3, 4), np.float32)
        ro.flags.writeable = False
        buf = np.zeros(13, np.float32)
        for options in self.options_for((3, 4)):
            with pytest.raises(TypeError, match=g):
                self.kernel(p, p, **options, **self.grad_kw(np.zeros((3, 4))))
            for bad in (np.zeros(12, np.float32), np.zeros((3, 8), np.float32)[:, ::2], ro):
                with pytest.raises(ValueError, match=g):
                    self.kernel(p, p, **options, **self.grad_kw(bad))
        for options in self.options_for((12,)):
            before = buf.copy()
            with pytest.raises(ValueError, match=g):  # overlaps pred, not exactly it
                self.kernel(buf[:12], np.zeros(12, np.float32), **options,
                            **self.grad_kw(buf[1:]))
            np.testing.assert_array_equal(buf, before)
