"""The tutorial's three integration tests, in boto3, against a running stack.

The LocalEmu tutorial this project reproduces tests its stack with three
boto3 tests against http://localhost:4566; these are the same three against
`make local-up` (or any endpoint with the stack deployed and seeded):

  A  the schedule's configuration, read back with the scheduler client
  B  the function invoked the way EventBridge Scheduler invokes it, with the
     payload of events/schedule.json for a fire at the cloud's current time
  C  exactly that run's audit rows in DynamoDB, keyed (secret_name, run_id)

Only boto3 is needed (unittest is the standard library's); pytest runs the
file too. Run:

  make local-up                 # in one terminal
  make tutorial-test            # in another

The environment names the endpoint and the stack, with make local-up's
defaults: ENDPOINT (else AWS_ENDPOINT_URL, else http://localhost:4566),
STACK (rotcheck), from which FUNCTION_NAME (rotcheck-check), SCHEDULE_NAME
(rotcheck-hourly) and TABLE_NAME (rotcheck-audit) follow unless set, and
AWS_DEFAULT_REGION (us-east-1). The credentials are AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, "test" by default: no profile is ever read.
"""

import copy
import datetime
import json
import os
import pathlib
import re
import sys
import unittest
import urllib.error
import urllib.request
import uuid

import boto3
from boto3.dynamodb.conditions import Attr
from botocore.config import Config

ENDPOINT = os.environ.get("ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL") or "http://localhost:4566"
REGION = os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
STACK = os.environ.get("STACK") or "rotcheck"
FUNCTION_NAME = os.environ.get("FUNCTION_NAME") or f"{STACK}-check"
SCHEDULE_NAME = os.environ.get("SCHEDULE_NAME") or f"{STACK}-hourly"
TABLE_NAME = os.environ.get("TABLE_NAME") or f"{STACK}-audit"

# The stack's seeded secrets (SeedTestSecrets=true, the default): two tagged
# Managed=true, which every run must audit, and one tagged Managed=false,
# which it must skip.
MANAGED = sorted([f"{STACK}-fresh", f"{STACK}-stale"])
IGNORED = f"{STACK}-ignored"

EVENT_FILE = pathlib.Path(__file__).resolve().parents[2] / "events" / "schedule.json"


def client(service):
    """A boto3 client for the endpoint, as the tutorial builds them."""
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID") or "test",
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or "test",
        config=Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 2}),
    )


def audit_table():
    """The audit table, through boto3's resource layer, as the tutorial reads it."""
    return boto3.resource(
        "dynamodb",
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID") or "test",
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or "test",
    ).Table(TABLE_NAME)


def unreachable():
    """Why nothing answers at the endpoint, or None when something does."""
    try:
        urllib.request.urlopen(ENDPOINT, timeout=5).close()
    except urllib.error.HTTPError:
        pass  # something answers, which is all this asks
    except (OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        return f"cannot reach {ENDPOINT} ({reason}): is `make local-up` running?"
    return None


def setUpModule():
    """Fail in one line, not three times, when nothing answers."""
    problem = unreachable()
    if problem:
        raise RuntimeError(problem)


def cloud_now():
    """The time a fire would happen now: the embedded cloud's clock, which
    `make local-up CLOCK_START=...` or `make clock` move away from real time,
    or real time on any other endpoint; rounded up to a whole second, since
    the scheduler's times have no fractions."""
    now = datetime.datetime.now(datetime.timezone.utc)
    try:
        with urllib.request.urlopen(ENDPOINT.rstrip("/") + "/_localcloud/clock", timeout=5) as resp:
            stamp = json.load(resp)["now"]
        m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", stamp)
        if m:
            now = datetime.datetime.fromisoformat(m.group(1) + ("+00:00" if m.group(3) == "Z" else m.group(3)))
            if m.group(2) and int(m.group(2)[1:]) != 0:
                now += datetime.timedelta(seconds=1)
            return now.astimezone(datetime.timezone.utc)
    except (OSError, ValueError, KeyError):
        pass  # not the embedded cloud: real time
    if now.microsecond:
        now = now.replace(microsecond=0) + datetime.timedelta(seconds=1)
    return now


def rfc3339(t):
    """A time as the scheduler writes <aws.scheduler.scheduled-time>."""
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def run_id_at(t):
    """The run_id of a fire at t, as the function derives it from
    scheduled_time: "run-" and the Unix time in milliseconds."""
    return "run-%d" % (int(t.timestamp()) * 1000)


def rows_of_run(run_id):
    """Every audit row of one run: a Scan of the table filtered on run_id,
    page after page."""
    table = audit_table()
    kwargs = {"FilterExpression": Attr("run_id").eq(run_id)}
    rows = []
    while True:
        page = table.scan(**kwargs)
        rows.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return rows
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


_run = {}


def scheduled_run():
    """One invocation of the schedule's target as EventBridge Scheduler makes
    it, shared by scenarios B and C (like a session fixture): the payload of
    events/schedule.json with the context attributes of a fire now. Returns
    the payload, the function's result and the run_id its scheduled time
    names."""
    if not _run:
        schedule = client("scheduler").get_schedule(Name=SCHEDULE_NAME)
        with open(EVENT_FILE) as f:
            payload = json.load(f)
        # A run is named by its scheduled time to the second; running these
        # tests twice within one second would reuse the first run, so the
        # fire is the first whole second from now that no run has used, and
        # every row of its run_id afterwards is one this invocation wrote.
        scheduled = cloud_now()
        while rows_of_run(run_id_at(scheduled)):
            scheduled += datetime.timedelta(seconds=1)
        payload.update(
            scheduled_time=rfc3339(scheduled),
            execution_id=str(uuid.uuid4()),
            attempt_number="1",
            schedule_arn=schedule["Arn"],
        )
        resp = client("lambda").invoke(FunctionName=schedule["Target"]["Arn"], Payload=json.dumps(payload).encode())
        body = resp["Payload"].read()
        if resp.get("FunctionError"):
            raise AssertionError(f"the function failed: {body.decode()}")
        _run.update(payload=payload, result=json.loads(body), run_id=run_id_at(scheduled))
    return copy.deepcopy(_run)


class TutorialTest(unittest.TestCase):
    maxDiff = None

    def test_a_schedule_configuration(self):
        """A: the schedule runs the function every hour, enabled, on time."""
        got = client("scheduler").get_schedule(Name=SCHEDULE_NAME)
        function_arn = client("lambda").get_function(FunctionName=FUNCTION_NAME)["Configuration"]["FunctionArn"]

        self.assertEqual(got["Name"], SCHEDULE_NAME)
        self.assertEqual(got["ScheduleExpression"], "rate(1 hour)")
        self.assertEqual(got["State"], "ENABLED")
        self.assertEqual(got["FlexibleTimeWindow"], {"Mode": "OFF"})
        self.assertEqual(got["Target"]["Arn"], function_arn)
        self.assertIn(":role/", got["Target"]["RoleArn"])
        # The Input carries the scheduler's placeholders under the keys of
        # events/schedule.json, the event the tutorial invokes with.
        target_input = json.loads(got["Target"]["Input"])
        self.assertEqual(target_input["scheduled_time"], "<aws.scheduler.scheduled-time>")
        with open(EVENT_FILE) as f:
            self.assertEqual(sorted(target_input), sorted(json.load(f)))

    def test_b_invoke_as_the_scheduler(self):
        """B: one invocation checks the two Managed=true secrets."""
        run = scheduled_run()
        result = run["result"]

        self.assertEqual(result["run_id"], run["run_id"], "run_id comes from scheduled_time")
        self.assertEqual(result["checked"], 2)
        self.assertEqual(result["written"], 2)
        self.assertEqual(result["checked_at"], run["payload"]["scheduled_time"], "the run is judged at its scheduled time")

    def test_c_audit_rows(self):
        """C: exactly the run's two new rows, keyed (secret_name, run_id)."""
        run = scheduled_run()
        run_id = run["run_id"]
        table = audit_table()

        self.assertEqual(
            table.key_schema,
            [{"AttributeName": "secret_name", "KeyType": "HASH"}, {"AttributeName": "run_id", "KeyType": "RANGE"}],
        )
        rows = rows_of_run(run_id)
        self.assertEqual(sorted(r["secret_name"] for r in rows), MANAGED)
        for row in rows:
            with self.subTest(secret=row["secret_name"]):
                self.assertEqual(row["checked_at"], run["payload"]["scheduled_time"])
                self.assertIn(row["status"], ("ok", "needs_rotation"))
                self.assertGreaterEqual(row["age_days"], 0)
                self.assertEqual(row["max_age_days"], 30)
        flagged = sum(r["status"] == "needs_rotation" for r in rows)
        self.assertEqual(flagged, run["result"]["flagged"], "the rows say what the invocation said")
        # The same rows by their key, and none for the Managed=false secret.
        for name in MANAGED:
            item = table.get_item(Key={"secret_name": name, "run_id": run_id}).get("Item")
            self.assertIsNotNone(item, f"no row for ({name}, {run_id})")
        self.assertNotIn("Item", table.get_item(Key={"secret_name": IGNORED, "run_id": run_id}))


if __name__ == "__main__":
    problem = unreachable()
    if problem:
        print(f"tutorial tests: {problem}", file=sys.stderr)
        sys.exit(2)
    unittest.main()
