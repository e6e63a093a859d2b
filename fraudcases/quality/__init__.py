"""Quality review of closed cases: the sampling policy, the review services and their reads.

- ``policy``: which closures are reviewed (a random share plus every high-risk ``legitimate``);
- ``services``: sampling closures into the queue and submitting a review (an overturn reopens
  the case through the workflow and corrects the training label through the label service);
- ``selectors``: the queue and a review, for the roles that may read them;
- ``tasks`` / ``receivers``: the sweep that samples closures, and the audit-log subscriber
  that samples a closure as soon as it commits.
"""
