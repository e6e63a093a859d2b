"""The detection engine: features, models, levels, reasons, rules, drift, synthetic data.

Pure Python over numpy / pandas / scikit-learn: nothing here imports Django, the ORM or the apps
around it (an import-linter contract in ``make test`` keeps it so). The scoring services feed it
data frames and store what it returns.
"""
