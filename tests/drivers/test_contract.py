"""Every driver module keeps the contract that makes a model one place: the module's
name is the model's name; it declares its class (``DRIVER``) and options; the class can
fill a role of the apparatus; an emulator declares that it emulates the model; and
both have byte-level tests.  A new model that keeps this needs no edit anywhere else."""

import inspect
import math
from pathlib import Path

import pytest

import drivers
from acquisition.roles import HV_MODULE, OPTIONAL_ROLES, ROLES, satisfies
from drivers.base import Instrument, Option
from simulators.apparatus import ROLES as SIM_ROLES
from simulators.apparatus import emulators

TESTS = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("model", drivers.MODELS)
def test_the_module_declares_its_driver_and_options(model):
    cls = drivers.driver_class(model)
    assert isinstance(cls, type) and issubclass(cls, Instrument)
    assert cls.model != Instrument.model, "DRIVER.model names the instrument in messages"
    parameters = inspect.signature(cls.__init__).parameters
    for name, option in cls.options.items():
        assert isinstance(option, Option) and option.kind in ("int", "number") and option.doc
        assert name in parameters, f"{model}: option {name!r} is not a constructor argument"
        parameter = parameters[name]
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY and parameter.default is not inspect.Parameter.empty
        value = parameter.default
        if value is not None:  # the default itself obeys the option's bounds
            assert math.isfinite(value)
            for bound, ok in (("gt", value > (option.gt or -math.inf)), ("ge", value >= (option.ge or -math.inf)),
                              ("lt", value < (option.lt if option.lt is not None else math.inf)),
                              ("le", value <= (option.le if option.le is not None else math.inf))):
                assert ok, f"{model}: default {name} = {value} breaks {bound}"


@pytest.mark.parametrize("model", drivers.MODELS)
def test_the_driver_can_fill_a_role(model):
    cls = drivers.driver_class(model)
    fits = [role for role, protocol in ROLES.items() if not satisfies(cls, protocol)]
    if not satisfies(cls, HV_MODULE):
        fits.append("high-voltage module")
    assert fits, f"{model} fills no role: it lacks " + "; ".join(
        f"{role}: {', '.join(satisfies(cls, p))}" for role, p in ROLES.items())


@pytest.mark.parametrize("model", drivers.MODELS)
def test_the_model_has_an_emulator_and_byte_level_tests(model):
    module = emulators().get(model)
    assert module is not None, f"no simulators module declares EMULATES = {model!r}"
    assert module.TRANSPORT in ("serial", "visa")
    driver_tests = TESTS / "drivers" / f"test_{model}.py"
    assert driver_tests.is_file() and "expected_protocol" in driver_tests.read_text(), driver_tests
    assert (TESTS / "simulators" / f"test_{model}.py").is_file()


def test_aliases_name_real_models_and_never_shadow_one():
    for alias, model in drivers.aliases().items():
        assert model in drivers.MODELS and alias not in drivers.MODELS
        assert drivers.driver_class(alias) is drivers.driver_class(model)


def test_the_simulated_installation_uses_models_that_fit_their_roles():
    for role, model in SIM_ROLES.items():
        protocol = ROLES.get(role) or OPTIONAL_ROLES.get(role, HV_MODULE)
        assert not satisfies(drivers.driver_class(model), protocol), (role, model)
