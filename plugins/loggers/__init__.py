"""Built-in experiment-tracker plugins (MLflow, Weights & Biases): `jlce run --log NAME`."""
