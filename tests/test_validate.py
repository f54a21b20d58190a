"""leukutils.validate: the checks of notebooks' list parameters."""
import pytest

from leukutils import validate

GOOD = {"sizes": [8, 16], "seeds": [0], "span": [0.1, 0.5], "shape": [96, 128], "methods": ["gradcam"],
        "extractors": ["alexnet"], "extractor_sizes": {"alexnet": 64, "vgg16": 32}}
RULES = dict(nonempty=["sizes", "seeds"], ranges=["span"], shapes=["shape"], choices={"methods": {"gradcam", "hirescam"}},
             keyed={"extractors": "extractor_sizes"})


def test_a_good_set_has_no_problem():
    assert validate.list_problems(GOOD, **RULES) == []
    validate.check_list_parameters(GOOD, **RULES)  # raises nothing


@pytest.mark.parametrize("change, message", [
    ({"sizes": []}, "sizes is empty"),
    ({"span": [0.5, 0.1]}, "span = [0.5, 0.1] is not a [low, high] pair"),
    ({"span": [0.5]}, "span = [0.5] is not a [low, high] pair"),
    ({"shape": [96, 0]}, "shape = [96, 0] is not [height, width] in px"),
    ({"methods": ["gradcam", "GradCAM"]}, "methods names 'GradCAM', which is none of ['gradcam', 'hirescam']"),
    ({"extractors": ["alexnet", "resnet50"]}, "extractor_sizes has no entry for 'resnet50' of extractors"),
])
def test_each_problem_is_named(change, message):
    problems = validate.list_problems({**GOOD, **change}, **RULES)
    assert len(problems) == 1 and message in problems[0]


def test_every_problem_is_reported_at_once():
    with pytest.raises(ValueError) as error:
        validate.check_list_parameters({**GOOD, "sizes": [], "seeds": [], "span": [1, 0]}, **RULES)
    assert str(error.value).count(";") == 2
