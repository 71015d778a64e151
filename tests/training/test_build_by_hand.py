"""Regression: calling a subclass's ``build`` by hand marks the layer built (as Keras does)."""

import tapeflow as tp


def test_dense_built_by_hand_is_not_built_again_on_first_call():
    layer = tp.layers.Dense(3)
    layer.build((None, 4))
    assert layer.built
    layer(tp.ones((2, 4)))
    assert layer.count_params() == 15
    assert len(layer.weights) == 2
