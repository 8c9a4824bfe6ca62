"""Coursework: exercise notebooks made into handouts and graded by otter-grader (PyPI), safely in a batch.

* assign: `otter assign` on every instructor notebook -> student notebooks and autograder zips;
* grade: every SUBMISSIONS/<student>/<exercise>.ipynb graded by otter in its own limited child process
  (sandbox, isolation) -> grades.csv and grades.md;
* checks: the teaching feedback the exercises' visible and hidden tests call ("expected ..., got ...;
  did you ...?"), imported by the exercises as `from teachkit import checks` (a re-export of this one).
"""
from .assign import EXERCISES, assign, exercise_notebooks
from .grade import COLUMNS, grade

__all__ = ["EXERCISES", "assign", "exercise_notebooks", "grade", "COLUMNS"]
