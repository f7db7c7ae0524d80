"""A real S3-compatible server on 127.0.0.1 (moto's server mode) that checks credentials:
an IAM user with an access key may do anything; any other key or secret is refused."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from support.http import free_port

REGION = "us-east-1"


@dataclass
class S3Server:
    endpoint: str
    key: str
    secret: str
    process: subprocess.Popen

    def env(self) -> dict[str, str]:
        """The provider's usual environment for this server."""
        return {"AWS_ACCESS_KEY_ID": self.key, "AWS_SECRET_ACCESS_KEY": self.secret,
                "AWS_ENDPOINT_URL": self.endpoint, "AWS_DEFAULT_REGION": REGION}

    def connection(self) -> str:
        """An Airflow AWS connection (``AIRFLOW_CONN_…`` JSON) for this server."""
        return json.dumps({"conn_type": "aws", "login": self.key, "password": self.secret,
                           "extra": {"endpoint_url": self.endpoint, "region_name": REGION}})

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=self.key, aws_secret_access_key=self.secret)

    def new_bucket(self) -> str:
        name = f"sf-{uuid.uuid4().hex[:10]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                        Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def start_s3(log: Path) -> S3Server:
    import boto3

    port = free_port()
    # the first three requests go unchecked: they make the user, its key and its policy
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="3")
    with open(log, "w") as out:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p",
             str(port)], env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
    endpoint = f"http://127.0.0.1:{port}"
    iam = boto3.client("iam", endpoint_url=endpoint, region_name=REGION,
                       aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
    iam.create_user(UserName="scribeflow")
    key = iam.create_access_key(UserName="scribeflow")["AccessKey"]
    iam.put_user_policy(UserName="scribeflow", PolicyName="all", PolicyDocument=json.dumps(
        {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    return S3Server(endpoint, key["AccessKeyId"], key["SecretAccessKey"], process)
