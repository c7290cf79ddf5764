"""rewardkit: the reward-math layer of RL for language models (Rust core, NumPy in and out).

Exact, tested, fast: advantages, KL penalties, policy/value/preference losses with their
gradients, the reward catalogue and reward distances, computed by ``rewardkit-core`` with the GIL
released. Arrays go in and out without copies (NumPy ``float32``/``float64``; torch CPU tensors
through the array protocol); the first float input decides the precision.

* Advantages: ``compute_advantage(name, token_level_rewards, response_mask, index, ...)`` with
  verl's names and shapes (``ADVANTAGE_ESTIMATORS``), ``trl_grpo_advantages``,
  ``openrlhf_advantages``, ``masked_whiten`` / ``masked_mean`` / ``masked_var``, ``group_ids``.
* KL and losses: ``kl_penalty``, ``policy_loss``, ``value_loss``, ``preference_loss``,
  ``bradley_terry_loss`` (each returns the value and its gradient), ``LossParts``,
  ``Aggregation``, ``agg_loss``, ``is_weights``, ``entropy_mask``, ``off_policy_mask``,
  ``sequence_logps``, ``ld_token_weights``.
* Logits: ``logprobs_forward``/``_backward``, ``log_softmax_*``, ``softmax_*``, ``entropy_*``,
  ``full_kl_*`` (forward with row statistics, accumulating backward); ``rejection_mask``.
* Rewards: ``Correctness``, ``Format``, ``CosineLength``, ``Laser``, ``LaserD``, ``Hapo``,
  ``Overlong``, ``RepetitionPenalty``, ``KimiLength``, ``Pipeline`` and the rest of the catalogue
  (``Par``, ``RewardShaper``, ``Pure``, ``Oreal``, ``FineGrained``, ``Carl``, ``FlipNoise``,
  PF-PPO's ``filtration_*``, ensembles, ...); stateful ones pickle.
* Objective and MDPs: ``tilt``, ``beta_for_kl``, ``best_of_n``; ``Mdp`` (policy evaluation, value
  iteration, regret).
* Distances: ``starc_distance``, ``epic_distance``, ``dard_distance`` on tabular MDPs.
* Adapters: ``rewardkit.verl`` (verl's registries), ``rewardkit.trl`` (TRL reward functions).

Errors are ``RewardkitError`` subclasses (``ValueError``) carrying the core's message.
"""

from ._native import *  # noqa: F401,F403  (every name of the extension module)
from ._native import __version__  # noqa: F401

__all__ = [n for n in dir() if not n.startswith("_")] + ["__version__"]
