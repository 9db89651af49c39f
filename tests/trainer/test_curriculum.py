import math

import pytest

from recbole_soft.trainer.curriculum import AdaptiveSchedule, build_schedule


def _adaptive(alpha, *distances):
    schedule = AdaptiveSchedule(alpha)
    for distance in distances:
        schedule.observe(distance)
    return schedule.weight()


def test_the_first_epoch_is_pure_self_distilled_data():
    assert _adaptive(10.0, 4.0) == 1.0


def test_lambda_is_clamped_at_one_when_the_distance_grows():
    assert _adaptive(10.0, 4.0, 5.0) == 1.0


def test_lambda_follows_the_formula_and_decreases_as_the_distance_shrinks():
    weights = [_adaptive(1.0, 4.0, d) for d in (3.0, 2.0, 1.0)]
    assert weights == pytest.approx([math.exp(1.0 * (d / 4.0 - 1)) for d in (3.0, 2.0, 1.0)])
    assert weights[0] > weights[1] > weights[2]


def test_a_larger_alpha_moves_weight_to_the_real_data_faster():
    assert _adaptive(100.0, 4.0, 3.0) < _adaptive(10.0, 4.0, 3.0) < _adaptive(0.1, 4.0, 3.0) < 1.0


def test_the_latest_distance_sets_the_weight():
    assert _adaptive(1.0, 4.0, 1.0, 2.0) == pytest.approx(math.exp(2.0 / 4.0 - 1))


def test_none_is_always_one_and_linear_decays_to_zero():
    none, linear = build_schedule("none", 1.0, 3), build_schedule("linear", 1.0, 3)
    weights = []
    for distance in (4.0, 3.0, 2.0):
        none.observe(distance)
        linear.observe(distance)
        assert none.weight() == 1.0
        weights.append(linear.weight())
    assert weights == [1.0, 0.5, 0.0]


def test_bad_schedule_settings_are_refused():
    with pytest.raises(ValueError, match="curriculum_alpha must be >= 0"):
        AdaptiveSchedule(-1.0)
    with pytest.raises(ValueError, match="curriculum='cosine' is not one of adaptive, none, linear"):
        build_schedule("cosine", 1.0, 2)
    with pytest.raises(RuntimeError, match="needs d_0"):
        AdaptiveSchedule(1.0).weight()


def test_the_state_round_trips():
    schedule = AdaptiveSchedule(1.0)
    schedule.observe(3.0)
    restored = AdaptiveSchedule(1.0)
    restored.load_state_dict(schedule.state_dict())
    assert restored.distances == [3.0]


def test_llaras_hybrid_share_rises_linearly_from_text_only_to_hybrid_only():
    from recbole_soft.trainer.curriculum import hybrid_share

    shares = [hybrid_share(step, 5) for step in range(5)]
    assert shares == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert hybrid_share(0, 1) == 0.0 and hybrid_share(7, 5) == 1.0
