"""Knobs (the environment, see test_model.py's docstring) and constants of
the model test."""

import os


def env_int(name, default):
    return int(os.environ.get(name, "") or default)


def env_on(name):
    return os.environ.get(name) == "1"


FIXED_SEED = 20240611
EXAMPLES = env_int("MODEL_EXAMPLES", 20)
STEPS = env_int("MODEL_STEPS", 20)
BUDGET_S = float(os.environ.get("MODEL_BUDGET_S", "") or 100)
QUIET_EVERY = env_int("MODEL_QUIET_EVERY", 4)
TTL = float(os.environ.get("MODEL_TTL", "") or 0.5)
FLUSH_MS = env_int("MODEL_FLUSH_MS", 100)
RACE_DELAY_MS = env_int("MODEL_RACE_DELAY_MS", 300)
REQ_TIMEOUT_S = float(os.environ.get("MODEL_REQ_TIMEOUT_S", "") or 2)
POOL = env_int("MODEL_DS_POOL", 0)
PROGRESS_S = float(os.environ.get("MODEL_PROGRESS_S", "") or 0)
NO_CONCURRENT = env_on("MODEL_NO_CONCURRENT")
NO_API = env_on("MODEL_NO_API")
NO_TAGOPS = env_on("MODEL_NO_TAGOPS")
NO_MKDIR = env_on("MODEL_NO_MKDIR")
NO_CP = env_on("MODEL_NO_CP")
NO_TRASH = env_on("MODEL_NO_TRASH")
NO_ARITH = env_on("MODEL_NO_ARITH")
NO_UPSIZE = env_on("MODEL_NO_UPSIZE") or POOL > 0
NO_KILL = env_on("MODEL_NO_KILL")
NO_EMU_RESTART = env_on("MODEL_NO_EMU_RESTART")
NO_FAULTS = env_on("MODEL_NO_FAULTS")
NO_DELETED_EDIT = env_on("MODEL_NO_DELETED_EDIT")
SETTLE_TIMEOUT_S = 8    # a mount's pending edits reach the server
DOWN_OP_TIMEOUT_S = 60  # system calls on a mount while the server is stopped
RECOVER_TIMEOUT_S = 40  # the same after a restart or faults (backoff grew meanwhile)
STALE_AFTER_FAILURE_S = 5.0  # include/cache.h CACHE_RETRY_AFTER_FAILURE_S
MARGIN_S = 0.3          # on top of the TTL before a mount must see others' changes
KILLS_PER_EXAMPLE = 1   # kill -9 of mount 1 (kill_remount and edit_deleted together)
EMU_RESTARTS_PER_EXAMPLE = 1
FAULTS_PER_EXAMPLE = 2
UPSIZES_PER_EXAMPLE = 2

INITIAL = "initial-tag"
# 40 samples, some in sub-folders (a mount shows them as subdirectories)
SAMPLES = (["a/x%02d.png" % i for i in range(1, 9)] +
           ["a/b/y%02d.jpg" % i for i in range(1, 5)] +
           ["c/z%02d.png" % i for i in range(1, 5)] +
           ["x%02d.png" % i for i in range(1, 25)])
SEED_TAGS = {"cats": set(SAMPLES[0:12:2]) | {"x03.png", "x10.png"},
             "dogs": {"a/x02.png", "c/z01.png", "x01.png", "x02.png", "x20.png"},
             "review": set()}
NEW_NAMES = ["cats", "dogs", "review", "new-one", "new-two", "new-three"]
MAX_TAGS = 5            # editable tags (the initial tag not counted); < len(NEW_NAMES)
TAG_ROUTE = "/v1/datasets/{datasetId}/tags/{tagId}"
FAULTS = {"503": {"status": 503, "count": 3},
          "drop": {"drop": True, "count": 2},
          "slow": {"answer_delay_ms": 400, "count": 2},
          "429": {"retry_after_s": 1, "count": 1}}


def pick(i, seq):
    seq = sorted(seq)
    return seq[i % len(seq)]
