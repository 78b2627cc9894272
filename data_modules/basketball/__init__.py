"""SportVU tracking + NBA play-by-play: readers, possessions, labels, features, rewards, synthetic games.

See ``README.md`` in this folder for the stable API shared by ReLiable and PlayBest."""
