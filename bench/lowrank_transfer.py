"""Why the low-rank Lanczos inverse loses accuracy on the later right-hand sides of a stage, and two fixes that did not pay.

`Lanczos` spends its HVPs on the first right-hand side's Krylov space and answers the other N_U − 1 from the
same Ritz pairs, taking A = I outside their span. This script measures, per stage, on the same operators as `bench/hypergrad.py`
(its options, e.g. `--arch resnet18 --size 32 --bs 32 --pretrain 5`), the cosine with the converged solve (MINRES to `--truth-tol`) of
right-hand sides 0, 4 and 7 for:
- `L{k}`: k Lanczos steps on the first right-hand side, the low-rank inverse for all (the library's solver; k HVPs per stage);
- `L{k}+R`: the same, then one preconditioned Richardson step per right-hand side, x ← x + P(v − Ax) with P the low-rank inverse
  (1 more HVP each);
- `G{k}+{n}`: k Lanczos steps, then the next n right-hand sides each add their part outside the subspace (1 HVP each) and the Ritz
  pairs are recomputed on the whole subspace (Rayleigh–Ritz); `fom` takes A = I outside, `mr` minimises the residual in the subspace.

    OMP_NUM_THREADS=1 python bench/lowrank_transfer.py --arch resnet18 --size 32 --bs 32 --pretrain 5 --batches 2
"""
import sys, time, torch, warnings
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
import hypergrad as hb
from bissl_fast.core import default_of
from bissl_fast.krylov import hvp_operator, ij_matvec, solve_minres, preserved_buffers, lowrank_solve, _flat, _unflat, _spectral_gain

def cos(x, y): x, y = x.double(), y.double(); return float(x @ y / (x.norm() * y.norm()))

class Space:
    "Orthonormal rows Q with their exact images AQ (which the library's `lanczos` does not keep): Ritz pairs and min-residual solves"
    def __init__(self, A): self.A, self.Q, self.AQ = A, [], []
    def add(self, q):
        "Add `q`'s part outside span(Q) (one matvec); returns its image, or None if nothing was left"
        for _ in range(2):
            if self.Q: Q = torch.stack(self.Q); q = q - Q.T @ (Q @ q)
        if q.norm() < 1e-6: return None
        self.Q.append(q / q.norm()); self.AQ.append(self.A(self.Q[-1]))
        return self.AQ[-1]
    def fom(self, w):
        "Low-rank inverse from the Ritz pairs of span(Q), A = I outside (as `lowrank_solve`, with its default policy and floor)"
        Q = torch.stack(self.Q); G = (Q @ torch.stack(self.AQ).T).double()
        al, S = torch.linalg.eigh((G + G.T) / 2)
        gain = _spectral_gain(al, *(default_of(lowrank_solve, k) for k in ('on_negative', 'eig_floor')))[0].float()  # the library's
        U = S.T.float() @ Q; c = U @ w
        return w + U.T @ ((gain - 1) * c)
    def mr(self, w):
        "x = w_⊥ + Q y, y minimising ‖w − w_⊥ − (AQ)ᵀy‖"
        Q, AQ = torch.stack(self.Q), torch.stack(self.AQ)
        wp = w - Q.T @ (Q @ w)
        return wp + Q.T @ torch.linalg.lstsq(AQ.T.double(), (w - wp).double()[:, None]).solution[:, 0].float()

def krylov(A, q, k):
    "k Lanczos steps (full reorthogonalisation) from `q`, as a `Space`"
    s = Space(A)
    for _ in range(k):
        q = s.add(q)
        if q is None: break
    return s

def stage(a, A, W, ks=(10, 12, 15), grow=((5, 7), (6, 6), (8, 4))):
    "Every variant on one operator: {name: [cosines on right-hand sides 0, 4, 7]}"
    idx, truth, t0 = [0, 4, 7], {}, time.time()
    for i in idx: truth[i] = _flat(solve_minres(lambda x: _unflat(A(_flat(x)), W.like), W.like_of(i), iters=a.truth_iters, tol=a.truth_tol))
    print(f'converged solves: {time.time() - t0:.0f} s', flush=True)
    res = {}
    for k in ks:
        s = krylov(A, W[0], k)
        x0 = {i: s.fom(W[i]) for i in idx}
        res[f'L{k}'] = [cos(x0[i], truth[i]) for i in idx]
        res[f'L{k}+R'] = [cos(x0[i] + s.fom(W[i] - A(x0[i])), truth[i]) for i in idx]
    for k, n in grow:
        s, out = krylov(A, W[0], k), {}
        for j in range(max(idx) + 1):
            if 1 <= j <= n: s.add(W[j])
            if j in idx: out[j] = (s.fom(W[j]), s.mr(W[j]))
        for m, name in enumerate(('fom', 'mr')): res[f'G{k}+{n} {name}'] = [cos(out[i][m], truth[i]) for i in idx]
    return res

class Rhs(list):
    "The right-hand sides, flat, with the shapes to unflatten them"
    def __init__(self, vs): super().__init__(_flat(v).float() for v in vs); self.like = tuple(t.float() for t in vs[0]); self.vs = vs
    def like_of(self, i): return tuple(t.float() for t in self.vs[i])

def main(argv=None):
    a = hb.get_args(argv)
    warnings.filterwarnings('ignore')
    hb.set_seed(a.seed)
    dls = hb.get_dls(a); lower = hb.stage_one(a, dls); W = Rhs(hb.rhs(a, dls, lower))
    params = list(lower.backbone.parameters())
    for b in range(a.batches):
        if b: hb.lower_steps(a, lower, dls)
        with preserved_buffers(lower):
            Ap = ij_matvec(hvp_operator(lower.pretext_loss(*dls.pretext_batch()), params), lam=a.lam, damping=a.damping)
        A = lambda x: _flat(Ap(_unflat(x, W.like))).float()
        print(f'\nHessian batch {b}\n\n| variant | HVPs / stage | cosine vs converged: rhs 0 | rhs 4 | rhs 7 |\n| --- | --- | --- | --- | --- |')
        for name, cs in stage(a, A, W).items():
            k = name.split()[0]
            n = int(k[1:].split('+')[0]) + (a.nu if k.endswith('+R') else int(k.split('+')[1]) if '+' in k else 0)
            print(f'| {name} | {n} | ' + ' | '.join(f'{c:.4f}' for c in cs) + ' |', flush=True)

if __name__ == '__main__': main()
