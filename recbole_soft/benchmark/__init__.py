"""Head-to-head benchmark suites: a yaml file of models on one dataset -> one results folder with a table."""
from recbole_soft.benchmark.runner import run_suite
from recbole_soft.benchmark.suite import Suite, SuiteError, load_suite

__all__ = ["Suite", "SuiteError", "load_suite", "run_suite"]
