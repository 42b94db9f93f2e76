#!/usr/bin/env node
// Captures the exact requests Meta's official Node.js business SDK (facebook-nodejs-business-sdk)
// sends to `POST /{version}/{pixel_id}/events`, by pointing it at a capture server on loopback.
//
// Writes one fixture per scenario beside this script: `node_sdk_<name>.json` with the method, path,
// query, content type and body the SDK sent (same format as capture_python_sdk.py). The sandbox test
// `meta_sdk_conformance.rs` replays each one and expects Meta's success answer.
//
// Usage (needs `npm install facebook-nodejs-business-sdk` where node can find it):
//     node capture_node_sdk.js
//
// event_time values are written as the placeholder `__EVENT_TIME__` so the replay can put a current
// time in (Meta refuses events older than 7 days).

'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');
const sdk = require('facebook-nodejs-business-sdk');

const { FacebookAdsApi, EventRequest, ServerEvent, UserData, CustomData, Content } = sdk;
const PIXEL_ID = '1234567890123456';
const ACCESS_TOKEN = 'EAAB-sdk-capture-token';
const FIXED_TIME = 1700000000;

function webPurchase() {
  const user = new UserData()
    .setEmails(['Joe@Example.com '])
    .setPhones(['+1 (650) 555-1212'])
    .setClientIpAddress('203.0.113.7')
    .setClientUserAgent('Mozilla/5.0 (X11; Linux x86_64)')
    .setFbc('fb.1.1554763741205.AbCdEfGhIjKlMnOpQrStUvWxYz1234567890')
    .setFbp('fb.1.1558571054389.1098115397')
    .setExternalIds(['crm-42']);
  const custom = new CustomData()
    .setContents([new Content().setId('product123').setQuantity(1)])
    .setCurrency('usd')
    .setValue(123.45)
    .setOrderId('order-1')
    .setContentType('product');
  const event = new ServerEvent()
    .setEventName('Purchase')
    .setEventTime(FIXED_TIME)
    .setEventId('order-1')
    .setUserData(user)
    .setCustomData(custom)
    .setEventSourceUrl('https://shop.example/thanks')
    .setActionSource('website');
  return new EventRequest(ACCESS_TOKEN, PIXEL_ID).setEvents([event]).setTestEventCode('TEST12345');
}

function conversionLead() {
  const user = new UserData().setLeadId(525645896321548).setEmail('lead@example.com');
  const custom = new CustomData().setCustomProperties({ event_source: 'crm', lead_event_source: 'signalpost' });
  const event = new ServerEvent()
    .setEventName('Qualified')
    .setEventTime(FIXED_TIME)
    .setUserData(user)
    .setCustomData(custom)
    .setActionSource('system_generated');
  return new EventRequest(ACCESS_TOKEN, PIXEL_ID).setEvents([event]);
}

async function main() {
  const captured = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const [p, q] = req.url.split('?');
      captured.push({
        method: req.method,
        path: p,
        query: q || '',
        content_type: req.headers['content-type'],
        body: Buffer.concat(chunks).toString('utf8'),
      });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ events_received: 1, messages: [], fbtrace_id: 'ACAPTURE' }));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  Object.defineProperty(FacebookAdsApi, 'GRAPH', { get: () => base });
  FacebookAdsApi.init(ACCESS_TOKEN);
  const version = require('facebook-nodejs-business-sdk/package.json').version;
  for (const [name, build] of [['web_purchase', webPurchase], ['conversion_lead', conversionLead]]) {
    captured.length = 0;
    await build().execute();
    const request = captured[0];
    request.sdk = `facebook-nodejs-business-sdk ${version}`;
    request.body = request.body.split(String(FIXED_TIME)).join('__EVENT_TIME__');
    const sorted = Object.fromEntries(Object.keys(request).sort().map((k) => [k, request[k]]));
    fs.writeFileSync(path.join(__dirname, `node_sdk_${name}.json`), JSON.stringify(sorted, null, 2) + '\n');
  }
  server.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
