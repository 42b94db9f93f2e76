#!/usr/bin/env python3
"""Writes the sample events `payload-v1.zdict` was trained on (see store/payload_codec.rs).

    python3 make-samples.py /tmp/samples
    zstd --train /tmp/samples/*.json -o payload-v1.zdict --maxdict=8192   # zstd v1.5.4

3,000 synthetic events shaped like the ones the gateway builds: 60 % TikTok Events API events,
25 % Meta Conversions API events, 15 % Google Ads click conversions, with random digests, ids,
addresses and a handful of common user agents and landing URLs. No real lead data. The dictionary
is kept as made; this script records how, and is not run by the build.
"""
import hashlib
import json
import os
import random
import sys

random.seed(7)
UAS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 musical_ly_37.2.0 JsSdk/2.0 NetType/WIFI Channel/App Store",
]
TIKTOK_EVENTS = ["CompleteRegistration", "SubmitForm", "Purchase", "Contact", "Lead", "PlaceAnOrder", "CompletePayment"]


def digest():
    return hashlib.sha256(str(random.random()).encode()).hexdigest()


def transaction_id():
    return random.choice([
        f"lead-{random.randint(1, 10**9)}",
        str(random.randint(10**6, 10**10)),
        "%08x-%04x-7%03x-%04x-%012x" % (random.getrandbits(32), random.getrandbits(16),
                                        random.getrandbits(12), random.getrandbits(16),
                                        random.getrandbits(48)),
    ])


def landing_url(t):
    host = random.choice(["lp.example.com", "get.quotes-now.com", "www.insure-best.net", "offers.example.org"])
    path = random.choice(["quote", "form", "apply", "lp/2"])
    return f"https://{host}/{path}?utm_source=tiktok&utm_campaign=c{random.randint(1, 999)}&ttclid=E.C.P.{t}"


def tiktok(t):
    d = {"event": random.choice(TIKTOK_EVENTS), "event_time": 1790000000 + random.randint(0, 10**7),
         "event_id": t, "user": {}}
    if random.random() < 0.9:
        d["user"]["email"] = digest()
    if random.random() < 0.8:
        d["user"]["phone"] = digest()
    if random.random() < 0.2:
        d["user"]["external_id"] = digest()
    d["user"]["ttclid"] = "E.C.P." + t
    if random.random() < 0.3:
        d["user"]["ttp"] = "%032x" % random.getrandbits(128)
    d["user"]["ip"] = ".".join(str(random.randint(1, 223 if i == 0 else 254)) for i in range(4))
    d["user"]["user_agent"] = random.choice(UAS)
    d["page"] = {"url": landing_url(t)}
    if random.random() < 0.7:
        d["page"]["referrer"] = "https://www.tiktok.com/"
    if random.random() < 0.4:
        d["properties"] = {"value": round(random.random() * 100, 2), "currency": "USD", "content_type": "product"}
    if random.random() < 0.1:
        d["test_event_code"] = "TEST%05d" % random.randint(0, 99999)
    return d


def meta(t):
    d = {"event_name": random.choice(["Lead", "Purchase", "CompleteRegistration", "SubmitApplication"]),
         "event_time": 1790000000 + random.randint(0, 10**7), "event_id": t, "action_source": "website",
         "event_source_url": landing_url(t),
         "user_data": {"em": [digest()], "ph": [digest()],
                       "client_ip_address": f"203.0.113.{random.randint(1, 250)}",
                       "client_user_agent": random.choice(UAS)}}
    if random.random() < 0.5:
        d["user_data"]["fbc"] = f"fb.1.{random.randint(10**12, 10**13)}.IwAR{random.getrandbits(64):x}"
    if random.random() < 0.5:
        d["user_data"]["fbp"] = f"fb.1.{random.randint(10**12, 10**13)}.{random.randint(10**9, 10**10)}"
    if random.random() < 0.4:
        d["custom_data"] = {"value": round(random.random() * 100, 2), "currency": "USD"}
    return d


def google_ads(t):
    d = {"conversionAction": f"customers/{random.randint(10**9, 10**10)}/conversionActions/{random.randint(10**8, 10**9)}",
         "conversionDateTime": "2026-%02d-%02d %02d:%02d:%02d+00:00" % (
             random.randint(1, 12), random.randint(1, 28), random.randint(0, 23),
             random.randint(0, 59), random.randint(0, 59)),
         "orderId": t}
    if random.random() < 0.6:
        d["gclid"] = "Cj0KCQ" + "%040x" % random.getrandbits(160)
    if random.random() < 0.5:
        d["conversionValue"] = round(random.random() * 100, 2)
        d["currencyCode"] = "USD"
    d["userIdentifiers"] = [{"hashedEmail": digest()}, {"hashedPhoneNumber": digest()}]
    if random.random() < 0.5:
        d["consent"] = {"adUserData": "GRANTED", "adPersonalization": "GRANTED"}
    return d


def main(out):
    os.makedirs(out, exist_ok=True)
    for i in range(3000):
        t = transaction_id()
        kind = random.random()
        event = tiktok(t) if kind < 0.6 else meta(t) if kind < 0.85 else google_ads(t)
        with open(os.path.join(out, f"{i}.json"), "w") as f:
            f.write(json.dumps(event, separators=(",", ":")))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "samples")
