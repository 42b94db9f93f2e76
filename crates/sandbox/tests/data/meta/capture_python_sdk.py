#!/usr/bin/env python3
"""Captures the exact requests Meta's official Python business SDK (facebook_business) sends to
`POST /{version}/{pixel_id}/events`, by pointing it at a capture server on loopback.

Writes one fixture per scenario beside this script: `python_sdk_<name>.json` holding the method,
path, query, content type and body (as text) of the request the SDK sent. The sandbox test
`meta_sdk_conformance.rs` replays each fixture and expects Meta's success answer.

Usage (needs `pip install facebook_business`):
    python3 capture_python_sdk.py

The SDK's event_time values are rewritten to a placeholder (`__EVENT_TIME__`) so the replay can put
a current time in: Meta refuses events older than 7 days.
"""

import http.server
import json
import os
import threading
import time

import facebook_business
from facebook_business.api import FacebookAdsApi
from facebook_business.adobjects.serverside.action_source import ActionSource
from facebook_business.adobjects.serverside.content import Content
from facebook_business.adobjects.serverside.custom_data import CustomData
from facebook_business.adobjects.serverside.event import Event
from facebook_business.adobjects.serverside.event_request import EventRequest
from facebook_business.adobjects.serverside.user_data import UserData

PIXEL_ID = "1234567890123456"
ACCESS_TOKEN = "EAAB-sdk-capture-token"
HERE = os.path.dirname(os.path.abspath(__file__))
# A fixed time the placeholder replaces: any value the SDK serializes for event_time.
FIXED_TIME = 1700000000

captured = []


class Capture(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode("utf-8")
        path, _, query = self.path.partition("?")
        captured.append({
            "method": "POST",
            "path": path,
            "query": query,
            "content_type": self.headers.get("content-type"),
            "body": body,
        })
        answer = json.dumps({"events_received": 1, "messages": [], "fbtrace_id": "ACAPTURE"}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def web_purchase():
    user = UserData(
        emails=["Joe@Example.com "],
        phones=["+1 (650) 555-1212"],
        client_ip_address="203.0.113.7",
        client_user_agent="Mozilla/5.0 (X11; Linux x86_64)",
        fbc="fb.1.1554763741205.AbCdEfGhIjKlMnOpQrStUvWxYz1234567890",
        fbp="fb.1.1558571054389.1098115397",
        external_ids=["crm-42"],
    )
    custom = CustomData(
        contents=[Content(product_id="product123", quantity=1)],
        currency="usd",
        value=123.45,
        order_id="order-1",
        content_type="product",
    )
    event = Event(
        event_name="Purchase",
        event_time=FIXED_TIME,
        event_id="order-1",
        user_data=user,
        custom_data=custom,
        event_source_url="https://shop.example/thanks",
        action_source=ActionSource.WEBSITE,
    )
    return EventRequest(events=[event], pixel_id=PIXEL_ID, test_event_code="TEST12345")


def conversion_lead():
    user = UserData(lead_id=525645896321548, emails=["lead@example.com"])
    custom = CustomData(custom_properties={"event_source": "crm", "lead_event_source": "signalpost"})
    event = Event(
        event_name="Qualified",
        event_time=FIXED_TIME,
        user_data=user,
        custom_data=custom,
        action_source=ActionSource.SYSTEM_GENERATED,
    )
    return EventRequest(events=[event], pixel_id=PIXEL_ID)


def two_events():
    events = []
    for i in range(2):
        events.append(Event(
            event_name="Lead",
            event_time=FIXED_TIME,
            event_id=f"lead-{i}",
            user_data=UserData(email=f"user{i}@example.com", client_user_agent="curl/8",
                               client_ip_address="2001:db8::1"),
            event_source_url="https://shop.example/form",
            action_source=ActionSource.WEBSITE,
        ))
    return EventRequest(events=events, pixel_id=PIXEL_ID)


def main():
    server = http.server.HTTPServer(("127.0.0.1", 0), Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = FacebookAdsApi.init(access_token=ACCESS_TOKEN)
    api._session.GRAPH = f"http://127.0.0.1:{server.server_port}"
    for name, build in [("web_purchase", web_purchase), ("conversion_lead", conversion_lead),
                        ("two_events", two_events)]:
        captured.clear()
        build().execute()
        request = captured[0]
        request["sdk"] = f"facebook_business {facebook_business.__version__}"
        request["body"] = request["body"].replace(str(FIXED_TIME), "__EVENT_TIME__")
        with open(os.path.join(HERE, f"python_sdk_{name}.json"), "w") as out:
            json.dump(request, out, indent=2, sort_keys=True)
            out.write("\n")
    server.shutdown()


if __name__ == "__main__":
    main()
