#!/usr/bin/env python3
"""Capture the exact HTTP requests Tencent Meeting's official Python SDK
(wemeet-openapi-sdk-python) sends, as JSON fixtures for the Rust conformance test.

Run (from the repository root):
    python3 -m venv /tmp/sdkvenv
    /tmp/sdkvenv/bin/pip install wemeet-openapi-sdk-python==1.0.10 requests_toolbelt
    /tmp/sdkvenv/bin/python tools/sdk-capture/capture.py

A local http.server on 127.0.0.1 (ephemeral port) records each request exactly as
received (method, raw request target, headers with their original names, body text)
and answers with vendor-shaped JSON. One fixture per case goes to tests/fixtures/sdk/.
Nothing leaves the machine.
"""
import http.server
import json
import os
import sys
import threading
from importlib.metadata import version

import wemeet_openapi
from wemeet_openapi.core import xhttp
from wemeet_openapi.core.constants import JSON_SERIALIZER

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "sdk")

PACKAGE = "wemeet-openapi-sdk-python"
SDK = f"{PACKAGE} {version(PACKAGE)}"

APP_ID = "demo-app"
SDK_ID = ""  # no SdkId assigned; the SDK crashes on None (it sets the header to None)
SECRET_ID = "demo-secret-id"
SECRET_KEY = "demo-secret-key"
USERID = "tester"
INSTANCEID = 1
SUBJECT = "SDK conformance"
START = "2000000000"  # the SDK's models type start_time/end_time as str
END = "2000001800"
MEETING_ID = "7000000000000000001"

MEETING_ANSWER = {
    "meeting_number": 1,
    "meeting_info_list": [{
        "meeting_id": MEETING_ID,
        "meeting_code": "123456789",
        "subject": SUBJECT,
        "start_time": START,
        "end_time": END,
        "join_url": "https://meeting.tencent.com/dm/123456789",
    }],
}
LIST_ANSWER = {"meeting_number": 0, "meeting_info_list": [], "remaining": 0,
               "next_pos": 0, "next_cursory": 0}
CANCEL_ANSWER = {}

recorded = []  # (request dict, answer dict), in arrival order


def answer_for(method, path):
    p = path.split("?", 1)[0]
    if method == "POST" and p.endswith("/cancel"):
        return CANCEL_ANSWER
    if method == "GET" and p == "/v1/meetings":
        return LIST_ANSWER
    return MEETING_ANSWER


class Recorder(http.server.BaseHTTPRequestHandler):
    def _handle(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        req = {
            "method": self.command,
            "uri": self.path,  # request target exactly as received
            "headers": {k: v for k, v in self.headers.items()},
            "body": raw.decode("utf-8"),
        }
        if len(req["headers"]) != len(self.headers.items()):
            raise RuntimeError("duplicate header names; fixture format cannot hold them")
        body = json.dumps(answer_for(self.command, self.path), ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8")
        answer = {"status": 200,
                  "headers": {"Content-Type": "application/json"},
                  "body": body.decode("utf-8")}
        recorded.append((req, answer))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _handle

    def log_message(self, *args):
        pass


def jwt():
    # A fresh authenticator per request: it caches nonce/timestamp/signature after use.
    # No nonce/timestamp given: the SDK generates its own.
    return [wemeet_openapi.JWTAuthenticator().options_build()]


def cases(client):
    api = client.meetings_api
    M = wemeet_openapi

    def create_with_settings():
        api.v1_meetings_post(M.ApiV1MeetingsPostRequest(body=M.V1MeetingsPostRequest(
            userid=USERID, instanceid=INSTANCEID, subject=SUBJECT, type=0,
            start_time=START, end_time=END,
            settings=M.V1MeetingsPostRequestSettings(
                mute_enable_join=True,
                allow_unmute_self=False,
                allow_in_before_host=True,
                auto_in_waiting_room=False,
                play_ivr_on_leave=False,
            ),
        )), authenticator_options=jwt())

    def create_without_settings():
        api.v1_meetings_post(M.ApiV1MeetingsPostRequest(body=M.V1MeetingsPostRequest(
            userid=USERID, instanceid=INSTANCEID, subject=SUBJECT, type=0,
            start_time=START, end_time=END,
        )), authenticator_options=jwt())

    def list_with_pos_and_cursory():
        api.v1_meetings_get(M.ApiV1MeetingsGetRequest(
            userid=USERID, instanceid=str(INSTANCEID),
            pos="2000000000", cursory="1700000000000",
        ), authenticator_options=jwt())

    def get_by_operator_id():
        api.v1_meetings_meeting_id_get(M.ApiV1MeetingsMeetingIdGetRequest(
            meeting_id=MEETING_ID, operator_id=USERID, operator_id_type="1",
            instanceid=str(INSTANCEID),
        ), authenticator_options=jwt())

    def modify():
        api.v1_meetings_meeting_id_put(M.ApiV1MeetingsMeetingIdPutRequest(
            meeting_id=MEETING_ID, body=M.V1MeetingsMeetingIdPutRequest(
                userid=USERID, instanceid=INSTANCEID, subject=SUBJECT,
                start_time=START, end_time=END,
            )), authenticator_options=jwt())

    def cancel():
        api.v1_meetings_meeting_id_cancel_post(M.ApiV1MeetingsMeetingIdCancelPostRequest(
            meeting_id=MEETING_ID, body=M.V1MeetingsMeetingIdCancelPostRequest(
                userid=USERID, instanceid=INSTANCEID, reason_code=1,
            )), authenticator_options=jwt())

    return [create_with_settings, create_without_settings, list_with_pos_and_cursory,
            get_by_operator_id, modify, cancel]


def main():
    server = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = wemeet_openapi.Client(
            app_id=APP_ID, sdk_id=SDK_ID, secret_id=SECRET_ID, secret_key=SECRET_KEY,
            clt=xhttp.Client(host=f"127.0.0.1:{server.server_port}", protocol="http",
                             serializer=JSON_SERIALIZER),
        )
        os.makedirs(OUT, exist_ok=True)
        for case in cases(client):
            before = len(recorded)
            case()  # raises on any SDK client/service error
            if len(recorded) != before + 1:
                raise RuntimeError(f"{case.__name__}: expected exactly one request")
            req, answer = recorded[-1]
            fixture = {"case": case.__name__, "sdk": SDK, **req, "answer": answer}
            path = os.path.join(OUT, f"{case.__name__}.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(fixture, f, ensure_ascii=False, indent=2)
                f.write("\n")
            print(f"{case.__name__}: {req['method']} {req['uri']} -> {path}")
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    sys.exit(main())
