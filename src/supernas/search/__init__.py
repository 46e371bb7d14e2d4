"""Searching a space: NSGA-II (pymoo) over accuracy and cost, SPOS-style evolution under cost
limits, and random search, all scoring through one cached path, with a Pareto-front report."""
