"""Prints SAM's own translation of a template as JSON (used by an optional test).

Usage: python3 sam_translate.py template.yaml
Needs aws-sam-translator and cfn-lint (for its YAML loader with short-form
intrinsics); the Go test skips when they are missing.
"""
import json
import os
import sys

from cfnlint.decode import decode
from samtranslator.translator.transform import transform


class _NoManagedPolicies:
    """Resolves managed policy names without calling IAM."""

    def load(self):
        return {"AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}


def main():
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template, matches = decode(sys.argv[1])
    if matches:
        sys.exit("cannot read %s: %s" % (sys.argv[1], matches[0]))
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            # sam package would upload CodeUri; the translator only accepts S3 URIs.
            props["CodeUri"] = "s3://bucket/code.zip"
    out = transform(template, {}, _NoManagedPolicies())
    json.dump(out, sys.stdout, indent=1, sort_keys=True, default=str)


if __name__ == "__main__":
    main()
