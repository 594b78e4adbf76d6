# %% [markdown]
# # Lesson 04: a score network, trained with denoising score entropy, and its likelihood bound
#
# Lessons 02 and 03 used ratios we could compute: the exact score, or a known target r. For
# real data the ratios p_t(x with x_i := y) / p_t(x) are unknown, and this lesson builds the
# machinery that learns them anyway. We derive
#
# 1. the **posterior-to-score map** s[i, y] = (pi_i P)_y / (pi_i P)_{x_i}, the form in which
#    `ScoreMLP` (and `ExactScore`) write every score, and check it against brute force;
# 2. the network's first layer as an **embedding lookup**, with its backward pass (a
#    scatter-add) checked by finite differences, and why those checks run in float64;
# 3. **denoising score entropy** (DSE): the unknown ratio replaced by a known one, the loss
#    changed only by a constant; and where its weight Q[y, x_t_i] and the factor sigma(t)
#    come from;
# 4. a finite-difference check of the whole model's hand-written backward pass;
# 5. training on the toy corpus (6 sentences {I, You, We} love {AI, NLP} .) on both graphs,
#    and the loss curve;
# 6. the learned score against the exact one as t varies;
# 7. the **likelihood bound** (NELBO) with its prior term, exact for the exact score;
# 8. on the absorbing graph, DSE is a cross-entropy.
#
# What to expect: gradient-check errors below 1e-6 (about 1e-9). Training losses settle near
# log 6 = 1.7918 nats per sentence. The exact score's NELBO equals log 6 to 1e-6 on both
# graphs; the trained models' NELBO is within 0.02 nats of log 6 for every sentence.
#
# Run it as a notebook (jupytext), or as a script: `python lessons/04_score_model.py`
# (about 60 s on a 2-core AMD EPYC server, one lesson at a time; writes figures/04_loss.png and
# figures/04_score_error.png); `--help` lists the options; `MINISEDD_QUICK=1` (or `--quick`)
# selects small settings.

# %%
import numpy as np

import minisedd as ms
from minisedd.notebook import figure, options, show_figure, table, timed

opt = options("Lesson 04: the score model, DSE training and the likelihood bound",
              full=dict(steps=3000, seed=0, nodes=8, t_points=16, num_xt=1200, grad_entries=0),
              quick=dict(steps=20, nodes=1, t_points=2, num_xt=60, grad_entries=40),
              help=dict(steps="training steps per graph (train's other settings: its defaults)",
                        seed="seed of the models, training and the sampled noisy sentences",
                        nodes="Gauss-Legendre nodes per panel of the exact NELBO",
                        t_points="values of t in the score-error figure",
                        num_xt="sampled noisy sentences per value of t in that figure",
                        grad_entries="entries per parameter array in the whole-model gradient "
                                     "check (0: every entry)"))
print(opt)
rng = np.random.default_rng(opt.seed)        # the sampled x_t of sections 1, 6 and 8
sentences = ms.TOY_SENTENCES                 # (6, 4): {I, You, We} love {AI, NLP} .
LOG6 = float(np.log(6.0))                    # entropy of the toy corpus, nats per sentence
KINDS = ("absorbing", "uniform")
print(f"{len(sentences)} sentences, equally likely: {ms.decode(sentences)}")

# %% [markdown]
# ## 1. From a posterior over clean tokens to the concrete score
#
# Each position of a clean sentence x0 is noised independently with the kernel
# P = expm(sigma_bar Q) (derived in lesson 01), so the noisy sentence x has probability
#
#     p_t(x) = sum_{x0} p0(x0) prod_j P[x0_j, x_j].
#
# The concrete score (derived in lesson 02) changes one position, x_i := y. Only the factor of
# position i changes, from P[x0_i, x_i] to P[x0_i, y]. Group the sum by the clean token
# v = x0_i at that position:
#
#     p_t(x with x_i := y) = sum_v [ sum_{x0 : x0_i = v} p0(x0) prod_{j != i} P[x0_j, x_j] ] P[v, y]
#                          = sum_v p(x0_i = v, x_{-i}) P[v, y],
#
# where x_{-i} are the other noisy positions. The bracket does not depend on y. Divide the
# same expression at y by the one at x_i; the factor p(x_{-i}) cancels, leaving the posterior
# pi_i(v) = p(x0_i = v | x_{-i}), "which clean token was at i, given the rest of the noisy
# sentence":
#
#     s[i, y] = (pi_i P)_y / (pi_i P)_{x_i}.
#
# This is exact, for any graph. It splits the score in two: pi_i (what the context says about
# the clean token: this is what a network must learn) and the kernel P (how likely that token
# is to have become y by now: known). `ScoreMLP` reads the whole noisy sentence (one-hot,
# L * n numbers) and two features of the noise level, e^{-sigma_bar} and log(1 + sigma_bar);
# its MLP (SiLU) outputs n_clean logits per position, a log-softmax turns them into pi_i, and
# `ms.score.posterior_score_forward(pi, P, x_t)` applies the map. Every position reads every
# other one, so pi_i can depend on the context.
#
# On the absorbing graph at a masked position, (pi_i P)_y = pi_i(y) e^{-sigma_bar} for a real
# word y and (pi_i P)_MASK = 1 - e^{-sigma_bar} (the closed form of lesson 01), so, writing sb
# for sigma_bar,
#
#     s_y = pi_i(y) e^{-sb} / (1 - e^{-sb}) = pi_i(y) / expm1(sb),   log s_y = log pi_i(y) - log expm1(sb),
#
# and the scores sum to exactly 1 / expm1(sb), as the true ones do: the *normalized*
# parameterization. The paper's network instead outputs free numbers o_y and shifts them,
# log s_y = o_y - log expm1(sb) - log(n - 1) ("scale_by_sigma"), so
# expm1(sb) sum_y s_y = mean_y exp(o_y), which is 1 only if training makes it so. Ours is the
# paper's head with o replaced by log_softmax(o) + log(n - 1).
#
# Below: an untrained model on 256 random noisy sentences, both readings of the *same*
# network outputs o; then the map with `ExactScore`'s posterior (computed by enumeration)
# against a brute-force ratio of marginals p_t(x with x_i := y) / p_t(x) on the uniform graph.

# %%
graph, noise = ms.problem("absorbing", ms.TOY_N_CLEAN)
model = ms.ScoreMLP(graph, length=4, rng=opt.seed)
print(f"{model}\n  MLP sizes {model.net.sizes}, SiLU; a posterior over n_clean = "
      f"{model.n_clean} real words")
B = 256
sb = noise.total(rng.uniform(0.05, 0.95, size=B))                # (B,) sigma_bar(t)
x_t = graph.sample_transition(sentences[rng.integers(0, 6, size=B)], sb, rng)   # (B, L)
log_s = model.log_score(x_t, sb)                                 # (B, L, n)
masked = x_t == graph.mask_id                                    # (B, L)
self_entry_max = float(np.abs(np.take_along_axis(log_s, x_t[:, :, None], axis=2)).max())
ours = np.expm1(sb)[:, None] * np.exp(log_s[..., :graph.mask_id]).sum(axis=2)   # (B, L)
onehot = np.eye(graph.n)[x_t].reshape(B, -1)                     # (B, L * n)
o, _ = model.net.forward(np.concatenate([onehot, ms.sigma_features(sb)], axis=1))  # raw outputs
paper = np.exp(o.reshape(B, 4, model.n_clean)).mean(axis=2)      # (B, L): expm1(sb) sum_y s_y
normalized_sum_err = float(np.abs(ours[masked] - 1.0).max())
paper_sum_range = (float(paper[masked].min()), float(paper[masked].max()))
print(f"  max |log s[i, x_i]|                              = {self_entry_max:.1e}"
      "   (the self entry is 1)")
print(f"  ours:  max |expm1(sb) sum_y s_y - 1|, masked      = {normalized_sum_err:.1e}")
print(f"  paper: expm1(sb) sum_y s_y from {paper_sum_range[0]:.3f} to "
      f"{paper_sum_range[1]:.3f}   (free; near 1 only because the last layer starts\n"
      "         small, and training must keep it there)")

ugraph, _ = ms.problem("uniform", ms.TOY_N_CLEAN)
uexact = ms.ExactScore(ugraph, sentences)
xu = rng.integers(0, ugraph.n, size=(8, 4))                      # (8, L) arbitrary noisy sentences
sbu = np.full(8, 0.7)                                            # sigma_bar
brute = np.empty((8, 4, ugraph.n))                               # p_t(x with x_i := y) / p_t(x)
for i in range(4):
    for y in range(ugraph.n):
        xy = xu.copy()
        xy[:, i] = y
        brute[:, i, y] = uexact.prob_t(xy, sbu) / uexact.prob_t(xu, sbu)
pi_u = uexact.posterior(xu, sbu)                                 # (8, L, n_clean)
via_pi, _ = ms.score.posterior_score_forward(pi_u, ugraph.transition(sbu), xu)   # (8, L, n)
posterior_form_err = float(np.abs(np.exp(via_pi) - brute).max())
print(f"  uniform graph, 8 random x_t: max |s via posterior - s by brute force| = "
      f"{posterior_form_err:.1e}")

# %% [markdown]
# Look at: the self entry is exactly 1 (log s = 0), our masked scores sum to 1 / expm1(sb) to
# rounding, the paper's head only roughly; and the map with the true posterior *is* the true
# score. The uniform graph gets the same head: the paper's uniform network outputs free
# log-scores, but through pi and P much of the sigma_bar dependence comes built in (the kernel
# says how likely a word is to have been replaced by now), so pi only has to say which clean
# word the context suggests.
#
# ## 2. The first layer is an embedding lookup
#
# The network's first layer is linear in [onehot(x_t), the two noise features]. The one-hot
# part has L blocks of n numbers, a single 1 in block i, at the token x_i. Multiplying a
# one-hot row by a matrix picks a row, e_k W = W[k], so with the first layer's token weights
# arranged as W[i, v] (position i, token v; shape (L, n, d)):
#
#     onehot(x) W = sum_i W[i, x_i],
#
# a *lookup* of L rows, added up: no multiplications by zero, and a cost that does not grow
# with n. `ScoreMLP` computes its first layer this way, with `ms.nn.embedding_forward`.
# The backward pass follows from the same sum: out[b] depends on the rows it looked up and on
# nothing else, each with derivative 1, so dW[i, x_i] += dout[b] for every sentence b and
# position i, and rows nobody looked up get 0. That is a *scatter-add*: a row W[i, v] is
# used by every sentence of the batch with token v at position i, and its gradients add up
# (`np.add.at` below, where plain indexed assignment would keep only the last one).
#
# Why the checks run in float64: a centred difference (f(w + h) - f(w - h)) / (2h) has a
# truncation error of order h^2 (1e-10 at h = 1e-5), but it also divides the rounding error of
# f, about u |f| with u the unit roundoff (half of NumPy's `np.finfo(dtype).eps`), by 2h. In
# float64, u = 1.1e-16, so that is about 1e-11: the estimate is good to about 10 digits and a
# hand gradient can be checked to 1e-6. In float32, u = 6e-8 and the same estimate is off by
# about 1e-2 *relative*, so a
# check at 1e-6 means nothing. Training only needs a few correct digits of the gradient, so
# float32 does there (`ms.ScoreMLP(..., dtype=np.float32)`); a *check* needs float64, the
# default.

# %%
emb_rng = np.random.default_rng(opt.seed + 7)                   # kept apart from `rng`
L, n, d = 4, graph.n, 6
W_tok = emb_rng.normal(size=(L, n, d))                           # W[i, v]: token v at position i
x_small = emb_rng.integers(0, n, size=(5, L))                    # (5, L) noisy sentences
onehot_small = np.zeros((5, L, n))
np.put_along_axis(onehot_small, x_small[:, :, None], 1.0, axis=2)
via_matmul = onehot_small.reshape(5, L * n) @ W_tok.reshape(L * n, d)   # (5, d)
via_lookup = W_tok[np.arange(L), x_small].sum(axis=1)            # (5, d): sum_i W[i, x_i]
emb, emb_cache = ms.nn.embedding_forward(x_small, W_tok)         # (5, d), the engine's
lookup_err = float(max(np.abs(via_matmul - via_lookup).max(), np.abs(emb - via_lookup).max()))
print(f"max |onehot(x) W - sum_i W[i, x_i]| (and the engine's lookup) = {lookup_err:.1e}")

# the backward pass written out as a scatter-add, against the engine's
dout = emb_rng.normal(size=(5, d))                               # (5, d) upstream gradient
dW_add = np.zeros_like(W_tok)                                    # (L, n, d)
positions = np.broadcast_to(np.arange(L), x_small.shape)         # (5, L): i of each lookup
np.add.at(dW_add, (positions, x_small), np.broadcast_to(dout[:, None, :], (5, L, d)))
scatter_err = float(np.abs(dW_add - ms.nn.embedding_backward(dout, emb_cache)).max())
print(f"max |scatter-add - ms.nn.embedding_backward| = {scatter_err:.1e}")

# two sentences with the same token at position 0: that row receives both gradients
x_rep = np.array([[3, 4, 5, 7], [3, 4, 6, 7]])
dW_rep = ms.nn.embedding_backward(np.ones((2, d)), ms.nn.embedding_forward(x_rep, W_tok)[1])
print(f"W[0, 3] used by both sentences gets gradient {dW_rep[0, 3, 0]:.0f}, W[2, 5] by one: "
      f"{dW_rep[2, 5, 0]:.0f}, W[0, 0] by none: {dW_rep[0, 0, 0]:.0f}")

# finite differences, float64: f(W) = embedding(x, W), projected on a random upstream gradient
lookup_check = ms.gradcheck(lambda W: ms.nn.embedding_forward(x_small, W)[0], W_tok,
                            lambda g_out: ms.nn.embedding_backward(g_out, emb_cache),
                            rng=emb_rng)
print(f"embedding backward vs centred differences, float64: relative error "
      f"{lookup_check:.1e}   (expect < 1e-6)")

# the same centred difference with f computed in float32: rounding swamps it
W32, h = W_tok.astype(np.float32), np.float32(1e-5)
exact_grad = ms.nn.embedding_backward(dout, emb_cache)           # (L, n, d), float64
numeric32, analytic32 = [], []
for k in range(12):                                             # a few looked-up entries
    i, v, c = k % L, x_small[k // L, k % L], k % d
    up, down = W32.copy(), W32.copy()
    up[i, v, c] += h
    down[i, v, c] -= h
    f_up = np.sum(dout.astype(np.float32) * ms.nn.embedding_forward(x_small, up)[0])
    f_down = np.sum(dout.astype(np.float32) * ms.nn.embedding_forward(x_small, down)[0])
    numeric32.append(float(f_up - f_down) / (2 * 1e-5))
    analytic32.append(exact_grad[i, v, c])
numeric32, analytic32 = np.array(numeric32), np.array(analytic32)
float32_check = float(np.abs(numeric32 - analytic32).max()
                      / (np.abs(numeric32) + np.abs(analytic32)).max())   # gradcheck's measure
print(f"the same check with f in float32: relative error {float32_check:.1e}   "
      f"(u / (2h) ~ 6e-8 / 2e-5: useless for a 1e-6 test)")

# %% [markdown]
# ## 3. Denoising score entropy
#
# Lesson 03 fitted a log-score z = log s to a *known* ratio r with score entropy
# l_SE(z; r) = e^z - r z + K(r) (derived in lesson 03). The ratio we want now is the true
# score s_true = p_t(x with x_i := y) / p_t(x), and it is unknown: it is a sum over the whole
# data distribution. Two steps get around it.
#
# **Step 1: the unknown ratio is an average of known ones.** Multiply and divide each term of
# p_t(x with x_i := y) = sum_{x0} p0(x0) prod_{j != i} P[x0_j, x_j] P[x0_i, y] by P[x0_i, x_i]:
#
#     s_true[i, y] = sum_{x0} [p0(x0) prod_j P[x0_j, x_j] / p_t(x)] r_y(x0) = E_{x0 | x_t}[r_y(x0)],
#     r_y(x0) = P[x0_i, y] / P[x0_i, x_i],
#
# because the bracket is Bayes' rule, p(x0 | x_t = x) (a clean x0 with P[x0_i, x_i] = 0 has
# posterior 0 and drops out). The ratio r_y(x0) needs only the kernel: it is known for any
# pair (x0, x_t). One caveat: that dropped x0 also drops its term P[x0_i, y] from the
# numerator, so the identity holds where every v with P[v, y] > 0 also has P[v, x_i] > 0.
# That is true on every entry the loss below weights (Q[y, x_i] > 0: whatever reaches y then
# reaches x_i), which is all DSE needs. Elsewhere, e.g. at an unmasked position on the
# absorbing graph, the true score can be positive while every r_y(x0) is 0.
#
# **Step 2: the loss is linear in r, up to a term without z.** l_SE(z; r) = e^z - r z + K(r),
# so averaging over x0 given x_t,
#
#     E_{x0 | x_t}[l_SE(z; r(x0))] = e^z - s_true z + E[K(r)]
#                                  = l_SE(z; s_true) + (E_{x0 | x_t}[K(r(x0))] - K(s_true)).
#
# The bracket does not contain z. Averaged over x_t ~ p_t: the expected DSE, over pairs
# (x0 ~ data, x_t ~ P[x0, .]), equals the expected score entropy against the unknown true
# score plus a constant C (which depends on sigma_bar, not on the model). Same minimizer,
# and we can draw the pairs: pick a sentence, noise it.
#
# **The weights.** Any positive weights keep that minimizer; SEDD's choice comes from the
# reverse process. Lesson 02 derived the reverse rates sigma(t) Q[y, x_i] s[i, y] (jump at
# position i from x_i to y). Compare two jump processes out of the same state, with rates R_y
# (true) and R'_y (model). Over a short dt the true one jumps to y with probability R_y dt and
# stays with 1 - sum_y R_y dt; the KL divergence between these one-step distributions is
#
#     sum_y R_y dt log(R_y / R'_y) + (1 - sum R dt) log((1 - sum R dt) / (1 - sum R' dt))
#     = dt sum_y [R'_y - R_y + R_y log(R_y / R'_y)] + O(dt^2),
#
# using log(1 - a) = -a + O(a^2). Put in R_y = sigma(t) Q[y, x_i] s_y and R'_y = sigma(t)
# Q[y, x_i] s'_y: the bracket is s' - s - s log s' + s log s = l_SE(log s'; s). So the KL rate
# of the model's reverse process against the true one is
#
#     sigma(t) sum_i sum_{y != x_i} Q[y, x_i] l_SE(log s'[i, y]; s[i, y]):
#
# score entropy weighted by the forward rate *into* x_i from y, Q[y, x_i], and by sigma(t).
# Uniform: Q[y, x] = 1/n for every y != x. Absorbing: Q[y, MASK] = 1 and Q[y, x] = 0 for a real
# word x, so only masked positions count. `ms.dse_loss(graph, log_s, x_t, x0, sb)` is the sum
# with Q[y, x_t_i] and r_y(x0), *without* sigma(t) (training multiplies by it; section 7
# integrates it). Below, the constant C, checked exactly: for an untrained model and for the
# exact score, E[DSE] - E[SE against the exact score] is the same number (enumerating every
# noisy sentence with its probability p_t; for the exact score the SE term is 0).

# %%
def weighted_se_vs_exact(score, exact, sb):
    """E_{x_t ~ p_t} sum_i sum_y Q[y, x_i] l_SE(log s_score[i, y]; s_exact[i, y]), enumerated."""
    g = score.graph
    every = np.stack(np.meshgrid(*[np.arange(g.n)] * 4, indexing="ij"), -1).reshape(-1, 4)
    p_t = exact.prob_t(every, np.full(len(every), sb))           # (n^L,) probability of each x_t
    live = every[p_t > 0]
    sbs = np.full(len(live), sb)
    s_exact = np.exp(exact.log_score(live, sbs))                 # (U, L, n), 0 where impossible
    weight = g.Q_in[live] * p_t[p_t > 0][:, None, None]          # Q[y, x_i] p_t(x_t)
    return ms.score_entropy(score.log_score(live, sbs), s_exact, weight)[0]


sb_check = 0.5
rows = []
for kind in KINDS:
    g, _ = ms.problem(kind, ms.TOY_N_CLEAN)
    exact = ms.ExactScore(g, sentences)
    untrained = ms.ScoreMLP(g, length=4, rng=opt.seed + 3)
    C = {}
    for name, score in (("exact score", exact), ("untrained ScoreMLP", untrained)):
        dse = float(ms.expected_dse(score, sentences, sb_check).mean())   # E over x0, x_t | x0
        se = weighted_se_vs_exact(score, exact, sb_check)
        C[name] = dse - se
        rows.append((kind, name, dse, se, dse - se))
    dse_constant_err = abs(C["exact score"] - C["untrained ScoreMLP"])
    rows.append((kind, "|difference of C|", "", "", f"{dse_constant_err:.1e}"))
print(f"sigma_bar = {sb_check}: E[DSE] = E[SE against the exact score] + C")
table(["graph", "score", "E[DSE]", "E[SE vs exact]", "C = E[DSE] - E[SE]"], rows,
      floatfmt="{:.6f}")

# %% [markdown]
# Look at: the untrained model pays far more DSE than the exact score, and all of the excess is
# its score entropy against the true score; C is the same for both. Minimizing DSE minimizes
# the distance to the unknown true score.
#
# ## 4. A gradient check of the whole model
#
# One-hot -> MLP -> log-softmax -> exp -> kernel -> log-ratio -> DSE: the backward pass goes
# through every step by hand (`ms.nn`, the posterior-to-score map, `ms.dse_loss`). Centred
# finite differences (float64, as section 2 says) on *every* parameter of a tiny model
# (hidden = 6), with the DSE of 5 noisy sentences as the function, must agree with it to
# better than 1e-6. (Quick mode checks 40 random entries of each parameter array.)

# %%
gradcheck_error = {}
for kind in KINDS:
    g, g_noise = ms.problem(kind, ms.TOY_N_CLEAN)
    tiny = ms.ScoreMLP(g, length=4, hidden=6, depth=2, rng=opt.seed + 1)
    fd_rng = np.random.default_rng(opt.seed + 1)                 # kept apart from `rng`
    x0 = sentences[fd_rng.integers(0, 6, size=5)]                # (5, L)
    sb5 = g_noise.total(fd_rng.uniform(0.2, 0.9, size=5))        # (5,)
    x5 = g.sample_transition(x0, sb5, fd_rng)                    # (5, L)

    def dse_total(**params):    # gradcheck nudges tiny.params in place; read them from tiny
        return ms.dse_loss(g, tiny.log_score(x5, sb5), x5, x0, sb5)[0].sum()

    log_s5, cache5 = tiny.forward(x5, sb5)
    _, dlog_s5 = ms.dse_loss(g, log_s5, x5, x0, sb5)
    entries = opt.grad_entries or None                           # None: every entry
    gradcheck_error[kind] = ms.gradcheck(dse_total, tiny.params, tiny.backward(dlog_s5, cache5),
                                         rng=fd_rng, max_entries=entries)
    checked = (f"all {tiny.num_params()} parameters" if entries is None else
               f"{sum(min(entries, p.size) for p in tiny.params.values())} of its "
               f"{tiny.num_params()} parameters")
    print(f"  {kind:9s} tiny ScoreMLP, {checked}: relative error "
          f"{gradcheck_error[kind]:.1e}   (expect < 1e-6)")

# %% [markdown]
# ## 5. Training with diffusion-weighted DSE
#
# `ms.train` draws t ~ U[t_min, 1] (t_min = 1e-3: below it almost no token has jumped, and the
# rare one that has carries a huge ratio, 1 + n / expm1(sigma_bar) on the uniform graph, or a
# huge weight, 1/t on the absorbing one (section 8): a noisy estimate of a tiny part of the
# integral), noises a batch of 256 sentences, and takes an Adam step on sigma(t) * DSE (section 3). Its
# loss is in nats per sentence and estimates the likelihood bound of section 7 over
# t in [t_min, 1], so it settles near log 6 = 1.792. We train both graphs: absorbing
# (LogLinear noise, n = 9) and uniform (Geometric noise, n = 8), with train's defaults.

# %%
models, histories, train_seconds = {}, {}, {}
for kind in KINDS:
    g, g_noise = ms.problem(kind, ms.TOY_N_CLEAN)
    models[kind] = ms.ScoreMLP(g, length=4, rng=opt.seed)
    print(f"{kind} graph:")
    histories[kind], train_seconds[kind] = timed(
        ms.train, models[kind], sentences, g_noise, opt.steps, rng=opt.seed,
        printer=lambda line: print("  " + line))
tail = max(2, opt.steps // 6)
final_loss, final_loss_se = {}, {}
for kind, hist in histories.items():
    final_loss[kind] = float(hist[-tail:].mean())
    final_loss_se[kind] = float(hist[-tail:].std(ddof=1) / np.sqrt(tail))
    print(f"  {kind:9s} mean loss over the last {tail} steps: {final_loss[kind]:.4f} "
          f"+- {2 * final_loss_se[kind]:.4f} (2 s.e.; log 6 = {LOG6:.4f}); "
          f"{train_seconds[kind]:.1f} s")

fig, axes = figure(1, 2, figsize=(11, 4), sharey=True)
step = np.arange(1, opt.steps + 1)
edges = np.unique(np.geomspace(1, opt.steps + 1, 40).astype(int))   # log-spaced bins of steps
for ax, (kind, hist) in zip(axes, histories.items()):
    centres = np.sqrt(edges[:-1] * (edges[1:] - 1))
    means = [hist[a - 1:b - 1].mean() for a, b in zip(edges[:-1], edges[1:])]
    ax.plot(step, hist, color="C0", alpha=0.3, lw=0.6, label="loss of each step")
    ax.plot(centres, means, "o-", color="C0", ms=3, lw=1.5, label="mean over log-spaced bins")
    ax.axhline(LOG6, color="k", ls="--", lw=1, label="log 6 = 1.792 (data entropy)")
    ax.set_title(f"{kind} graph")
    ax.set_xlabel("training step")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(1, 12)
    ax.set_yticks([1, 1.5, 2, 3, 4, 6, 8, 12])
    ax.set_yticklabels(["1", "1.5", "2", "3", "4", "6", "8", "12"])
    ax.grid(alpha=0.3, which="both")
axes[0].set_ylabel("diffusion-weighted DSE (nats / sentence)")
axes[0].legend(loc="upper right")
fig.suptitle("Training loss on the toy corpus: an estimate of the likelihood bound")
show_figure(fig, "04_loss.png", opt, dpi=110)
print("Look at: the loss falls from 8-10 nats to about log 6 within ~30 steps and then\n"
      "fluctuates around it. The uniform graph's estimate is noisier: every position carries\n"
      "loss at every t, not just the masked ones.")

# %% [markdown]
# ## 6. The learned score against the exact one
#
# `ExactScore` computes the true score of the 6-sentence distribution by enumeration. For t on
# a grid we draw noisy sentences x_t and compare log-scores on the entries that matter: the
# weighted ones (y != x_i with Q[y, x_i] > 0; on the absorbing graph, the masked positions).
# Where the true score is 0 (a word that never appears in that slot, e.g. "AI" in place of
# "love") the log error is infinite, so the left panel skips those entries. The right panel has
# no such blind spot: it is the expected score entropy of the model *against the exact score*,
#
#     sigma(t) E_{x_t} sum_i sum_y Q[y, x_i] l_SE(log s_model[i, y]; s_exact[i, y]),
#
# which by section 3 is the excess of the model's expected DSE over the exact score's (the
# constant C cancels). We compute it exactly with `ms.expected_dse`, averaged over the 6
# sentences. Its area over t is the model's NELBO gap averaged over the data (section 7), up
# to the bits of the integral that t in [0, 1] leaves out (the geometric schedule's jump to
# sigma_min; on the absorbing graph, the last masks).
#
# Expect two different pictures. Absorbing: the model only has to name the word under a mask,
# and its log-scores are off by a fraction of a percent at every t. Uniform at small t: the
# scores of words that never occur in that slot are about sigma_bar / (n p0(x_i)), tiny, and
# the model's relative error on them is large (words that do occur there have scores near
# p0(y) / p0(x_i), about 1, and are learned well); but a tiny score costs little, and the right
# panel shows that what the likelihood pays stays small.

# %%
t_grid = np.linspace(0.02, 0.98, opt.t_points)
score_log_error, score_excess = {}, {}
for kind, trained in models.items():
    g, g_noise = ms.problem(kind, ms.TOY_N_CLEAN)
    exact = ms.ExactScore(g, sentences)
    score_log_error[kind], score_excess[kind] = np.empty(opt.t_points), np.empty(opt.t_points)
    for k, t in enumerate(t_grid):
        sb_t = float(g_noise.total(t))                           # sigma_bar(t)
        x_grid = g.sample_transition(sentences[rng.integers(0, 6, size=opt.num_xt)], sb_t, rng)
        sbs = np.full(opt.num_xt, sb_t)
        lm, le = trained.log_score(x_grid, sbs), exact.log_score(x_grid, sbs)  # (N, L, n) each
        use = (g.Q_in[x_grid] > 0) & np.isfinite(le)             # weighted, true score > 0
        score_log_error[kind][k] = np.abs(lm - le)[use].mean() if use.any() else np.nan
        gap = ms.expected_dse(trained, sentences, sb_t) - ms.expected_dse(exact, sentences, sb_t)
        score_excess[kind][k] = float(g_noise.rate(t)) * gap.mean()
print(f"Trained score against ExactScore, {opt.t_points} values of t")
print("  t     mean |log s_model - log s_exact|   sigma(t) x excess DSE (nats)")
print("        absorbing    uniform               absorbing    uniform")
for k in range(0, opt.t_points, max(1, opt.t_points // 8)):
    print(f"  {t_grid[k]:.2f}  {score_log_error['absorbing'][k]:9.2e}  "
          f"{score_log_error['uniform'][k]:9.2e}             {score_excess['absorbing'][k]:9.2e}"
          f"  {score_excess['uniform'][k]:9.2e}")

fig, axes = figure(1, 2, figsize=(11, 4))
for kind, style in zip(KINDS, ("C0o-", "C1s-")):
    axes[0].plot(t_grid, score_log_error[kind], style, ms=4, label=f"{kind} graph")
    axes[1].plot(t_grid, np.maximum(score_excess[kind], 1e-12), style, ms=4,
                 label=f"{kind} graph")
axes[0].set_title(f"log-score error on weighted entries with true score > 0\n"
                  f"({opt.num_xt} sampled x_t per t)", fontsize=10)
axes[0].set_ylabel("mean |log s_model - log s_exact|")
axes[1].set_title("excess DSE of the model over the exact score\n"
                  "(exact; its area over t is about the mean NELBO gap)", fontsize=10)
axes[1].set_ylabel("sigma(t) E sum w l_SE(log s_model; s_exact)")
for ax in axes:
    ax.set_xlabel("t")
    ax.set_yscale("log")
    ax.set_ylim(1e-6, 10 if ax is axes[0] else 0.1)    # near t = 1 the uniform curves
    ax.grid(alpha=0.3, which="both")
    ax.legend()                 # ... fall off the bottom (see the text above)
show_figure(fig, "04_score_error.png", opt, dpi=110)
print("Look at: on the absorbing graph the log-scores are off by well under 1% at every t.\n"
      "On the uniform graph the log error is large at small t, but on the tiny scores (about\n"
      "sigma_bar / (n p0(x_i))) of words that never occur in a slot, which hardly count:\n"
      "the excess DSE (what the likelihood pays) stays near 1e-3 or below at every t.\n"
      "Near t = 1 the uniform x_t is almost pure noise, every score is ~1, there is nothing\n"
      "left to learn, and both uniform curves drop towards 0.")

# %% [markdown]
# ## 7. The likelihood bound (NELBO)
#
# The model generates by running its reverse process from the limit at t = 1 down to t = 0.
# (Strictly, the bound below is for the process started from the limit at sigma_bar = inf;
# `ms.sample` starts from the limit at t = 1, which on the absorbing graph differs by
# O(eps) = 1e-3 per position. For the exact score the two coincide: an all-[MASK] start
# carries no information, lesson 02.)
# Its probability of a sentence x0 is an integral over every path that ends at x0, and a
# bound follows from one inequality. Let q(path | x0) be the *forward* process started at x0.
# Then p_model(x0) = E_{path ~ q}[p_model(path) / q(path | x0)], and since -log is convex
# (Jensen),
#
#     -log p_model(x0) <= E_q[log(q(path | x0) / p_model(path))] = KL(q(path | x0) || p_model(path)).
#
# Split the path KL in time. At t = 1 the forward path is at P(sigma_bar(1))[x0, .] (per
# position) and the model starts at the limit: the **prior term**
# KL(P(sigma_bar(1))[x0, .] || limit), summed over positions.
# After that both are jump processes. Run backward, the forward process *given x0* is the
# reversed chain of lesson 02 with p_t replaced by P[x0, .]: its rates are
# sigma(t) Q[y, x_i] P[x0_i, y] / P[x0_i, x_i] = sigma(t) Q[y, x_i] r_y(x0). The model's rates
# are sigma(t) Q[y, x_i] s[i, y]. By the KL rate of section 3, with the roles renamed (there
# s was the true score and s' the model's; here the model's score is s, and r(x0) takes the
# place of the true score), the jumps cost sigma(t) DSE per unit time:
#
#     -log p_model(x0) <= int_0^1 sigma(t) E_{x_t ~ P(sigma_bar(t))[x0, .]} DSE(x_t, x0) dt
#                         + KL(P(sigma_bar(1))[x0, .] || limit).
#
# Since sigma(t) dt = d sigma_bar (lesson 01), the integral is over sigma_bar, and the bound
# depends on the schedule only through the range of sigma_bar it covers, which must start at
# sigma_bar = 0 (the geometric schedule starts at sigma_min: the jump 0 -> sigma_min is
# integrated too).
#
# **The prior term.** Uniform: the limit is uniform over the n words and P(sb)[x0, .] only
# approaches it (like e^{-sb}), so the prior term is never exactly 0 and must be added: it is
# about (n - 1)/2 e^{-2 sb} per position. At sigma_bar(1) = 20 that is below 1e-16 nats per
# sentence, but a schedule that stopped at sigma_max = 2 would leave about 0.2.
# Absorbing: the limit is all [MASK], and for any finite sb the position keeps x0 with
# probability e^{-sb} > 0 where the limit has probability 0: the prior term is *infinite*. So
# we do not stop at LogLinear's sigma_bar(1) = 6.9; we integrate to full masking, sb = inf,
# where P is exactly the limit and the prior term is exactly 0 (for the exact score, stopping
# at 6.9 would lose about eps * sum_i -log p0(x0_i) = 1e-3 log 6 = 0.0018 nats). The integral
# stays finite: DSE at a masked position is -log pi(x0_i) / expm1(sb) (section 8), which
# decays like e^{-sb}.
#
# `ms.nelbo(score, noise, x0, method="exact")` does all this: Gauss-Legendre quadrature in
# the jump probability m = 1 - e^{-sigma_bar} from 0 to its end (m = 1 on the absorbing graph),
# every noisy sentence enumerated, the prior term added on the uniform graph. It returns
# (bound, standard error); the error is 0 for "exact". First the prior terms themselves:

# %%
def prior_term(g, x0, sb):
    """sum_i KL(P_sb[x0_i, .] || limit) per sentence (B,).

    Written as sum_y lim_y (rho log rho - rho + 1) with lim the limit and rho = p / lim: the
    same sum (the added terms sum to 0), but every term is >= 0, so nothing cancels when p is
    close to lim. A p_y > 0 where lim_y = 0 makes it infinite; p_y = lim_y = 0 adds 0.
    """
    p = g.transition(sb)[x0]                                     # (B, L, n) rows P[x0_i, .]
    lim = np.broadcast_to(g.limit, p.shape)                      # (B, L, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.where(lim > 0, p / lim - 1.0, 0.0)            # rho - 1
        terms = np.where(lim > 0, lim * ((1.0 + delta) * np.log1p(delta) - delta),
                         np.where(p > 0, np.inf, 0.0))
    return terms.sum(axis=(1, 2))


ugraph, unoise = ms.problem("uniform", ms.TOY_N_CLEAN)
agraph, anoise = ms.problem("absorbing", ms.TOY_N_CLEAN)
prior_rows = [("uniform", f"sigma_bar(1) = {float(unoise.total(1.0)):.0f}",
               float(prior_term(ugraph, sentences, float(unoise.total(1.0))).max())),
              ("uniform", "sigma_max = 2 instead", float(prior_term(ugraph, sentences, 2.0).max())),
              ("absorbing", f"sigma_bar(1) = {float(anoise.total(1.0)):.2f}",
               float(prior_term(agraph, sentences, float(anoise.total(1.0))).max()))]
table(["graph", "integration stops at", "prior term, nats per sentence"], prior_rows,
      floatfmt="{:.3g}")

# %% [markdown]
# With the exact score the bound is tight: it equals -log p_data(x0) = log 6 for every
# sentence, on both graphs. For a trained model it bounds -log p_model(x0). A single sentence
# may land slightly *below* log 6 (the model gives it a bit more than 1/6), but the mean over
# the data cannot: the cross-entropy of the data against any model is at least the data's
# entropy, log 6. The training loss estimates the same integral, but over t in [t_min, 1] only,
# and with the weights of the moment rather than their running average. With the exact score
# that part of the integral is about 0.004 nats below log 6 on the absorbing graph (the first
# and last thousandth of the masking) and under 0.001 below on the uniform one, so the final
# training loss may sit a little below log 6 while the full bound does not.

# %%
print(f"The likelihood bound, exact (quadrature with {opt.nodes} nodes per panel)")
nelbo_exact, nelbo_model, exact_err, gap_mean, gap_worst = {}, {}, {}, {}, {}
for kind, trained in models.items():
    g, g_noise = ms.problem(kind, ms.TOY_N_CLEAN)
    nelbo_exact[kind], _ = ms.nelbo(ms.ExactScore(g, sentences), g_noise, sentences,
                                    nodes=opt.nodes)
    nelbo_model[kind], _ = ms.nelbo(trained, g_noise, sentences, nodes=opt.nodes)
    gap = nelbo_model[kind] - LOG6
    exact_err[kind] = float(np.abs(nelbo_exact[kind] - LOG6).max())
    gap_mean[kind] = float(gap.mean())
    gap_worst[kind] = float(np.abs(gap).max())
print(f"  NELBO per sentence, nats (log 6 = {LOG6:.6f})")
print(f"  {'sentence':14s} {'exact score':>22s}   {'trained ScoreMLP':>22s}")
print(f"  {'':14s} {'absorbing':>11s} {'uniform':>10s}   {'absorbing':>11s} {'uniform':>10s}")
for j, sentence in enumerate(ms.decode(sentences)):
    print(f"  {sentence:14s} {nelbo_exact['absorbing'][j]:11.6f} "
          f"{nelbo_exact['uniform'][j]:10.6f}   {nelbo_model['absorbing'][j]:11.6f} "
          f"{nelbo_model['uniform'][j]:10.6f}")
for kind in models:
    print(f"  {kind:9s} exact score: max |NELBO - log 6| = {exact_err[kind]:.1e};  "
          f"trained: gap mean {gap_mean[kind]:+.4f}, worst |gap| "
          f"{gap_worst[kind]:.4f} nats (expect <= 0.02)")
print("Look at: the exact score gives log 6 to every digit shown, on both graphs. The trained\n"
      "models scatter around it by less than 0.02 nats, some sentences below: the bound is on\n"
      "the model's own -log p(x0), and the model gives those sentences a bit more than 1/6.")
for kind in models:
    print(f"  {kind:9s} training loss at the end {final_loss[kind]:.4f} vs the mean of its "
          f"NELBO (exact quadrature) {nelbo_model[kind].mean():.4f}")

# %% [markdown]
# ## 8. On the absorbing graph, DSE is a cross-entropy
#
# At a masked position the DSE ratios are r_y = P[x0_i, y] / P[x0_i, MASK]
# = [y = x0_i] e^{-sb} / (1 - e^{-sb}) = [y = x0_i] / expm1(sb), and our scores are
# s_y = pi(y) / expm1(sb) (section 1). With c = 1 / expm1(sb) and K(0) = 0, the score entropy
# summed over the real words y is
#
#     sum_y (c pi(y) - r_y log(c pi(y)) + K(r_y)) = c - c log c - c log pi(x0_i) + c (log c - 1)
#                                                 = -log pi(x0_i) / expm1(sb):
#
# the cross-entropy of the posterior with the clean word, scaled. With LogLinear noise also
# sigma(t) / expm1(sigma_bar(t)) = 1 / t exactly (expm1(sigma_bar) = (1 - eps) t / (1 - (1 - eps) t)
# and sigma = (1 - eps) / (1 - (1 - eps) t), lesson 01), so the training loss is
# E_t (1/t) sum_{masked i} -log pi_i(x0_i): the loss of masked diffusion language models.

# %%
trained_abs = models["absorbing"]
t_ce = rng.uniform(0.1, 0.9, size=512)
sb_ce = anoise.total(t_ce)                                       # (B,)
x0_ce = sentences[rng.integers(0, 6, size=512)]                  # (B, L)
x_ce = agraph.sample_transition(x0_ce, sb_ce, rng)               # (B, L)
dse_ce = ms.dse_loss(agraph, trained_abs.log_score(x_ce, sb_ce), x_ce, x0_ce, sb_ce)[0]  # (B,)
pi_x0 = np.take_along_axis(trained_abs.posterior(x_ce, sb_ce), x0_ce[:, :, None], axis=2)[..., 0]
ce = np.where(x_ce == agraph.mask_id, -np.log(pi_x0), 0.0).sum(axis=1) / np.expm1(sb_ce)  # (B,)
ce_identity_err = float(np.abs(dse_ce - ce).max() / np.abs(dse_ce).max())
one_over_t_err = float(np.abs(anoise.rate(t_ce) * t_ce / np.expm1(sb_ce) - 1.0).max())
print(f"  512 noisy sentences: max |DSE - sum_masked -log pi(x0) / expm1(sb)| / max DSE = "
      f"{ce_identity_err:.1e}")
print(f"  LogLinear: max |sigma(t) t / expm1(sigma_bar(t)) - 1| = {one_over_t_err:.1e}")
