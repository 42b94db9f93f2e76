/* signalpost capture.js: keeps the ad click ids of a visit (ttclid, fbclid, gclid, gbraid, wbraid)
   in a first-party cookie and fills hidden inputs named like signalpost's lead fields, with the
   _ttp, _fbp and _fbc cookies, in every form of the page, so they reach POST /v1/leads even when
   the form is on a later page than the ad's landing URL. No dependencies, no network, no eval;
   it never overwrites a value the page set itself and never throws. */
(function () {
  'use strict';
  var CLICK_IDS = ['ttclid', 'fbclid', 'gclid', 'gbraid', 'wbraid'];
  var COOKIES = { ttp: '_ttp', fbp: '_fbp', fbc: '_fbc' };
  var FIELDS = CLICK_IDS.concat(['ttp', 'fbp', 'fbc']);
  var STORE = 'sp_ids';
  var MAX_AGE = 90 * 24 * 60 * 60;
  var MAX_LEN = 1024;
  // On an input this script filled: the value it wrote (a later fill may refresh it).
  var MARK = 'data-signalpost';

  function safe(fn) {
    return function () {
      try {
        return fn.apply(this, arguments);
      } catch (e) {
        return undefined;
      }
    };
  }

  function decode(s) {
    try {
      return decodeURIComponent(s.replace(/\+/g, ' '));
    } catch (e) {
      return null;
    }
  }

  // name (lower case) -> first non-empty value, case kept, from a query string.
  function params(query) {
    var out = {};
    var parts = (query || '').split('&');
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf('=');
      if (eq < 1) continue;
      var key = decode(parts[i].slice(0, eq));
      var value = decode(parts[i].slice(eq + 1));
      if (key === null || value === null) continue;
      key = key.toLowerCase();
      value = value.replace(/^\s+|\s+$/g, '');
      if (value && value.length <= MAX_LEN && !out.hasOwnProperty(key)) out[key] = value;
    }
    return out;
  }

  // The click ids of the page URL: its query, else a query inside the fragment (#/page?fbclid=).
  function fromUrl() {
    var loc = window.location;
    var query = params(loc.search.replace(/^\?/, ''));
    var at = loc.hash.indexOf('?');
    var fragment = at >= 0 ? params(loc.hash.slice(at + 1)) : {};
    var ids = {};
    for (var i = 0; i < CLICK_IDS.length; i++) {
      var name = CLICK_IDS[i];
      var value = query[name] || fragment[name];
      if (value) ids[name] = value;
    }
    return ids;
  }

  // A cookie's raw value ('' when absent).
  function cookie(name) {
    var all = document.cookie ? document.cookie.split(';') : [];
    for (var i = 0; i < all.length; i++) {
      var c = all[i].replace(/^\s+/, '');
      var eq = c.indexOf('=');
      if (eq > 0 && c.slice(0, eq) === name) return c.slice(eq + 1);
    }
    return '';
  }

  function save(ids) {
    var parts = [];
    for (var i = 0; i < CLICK_IDS.length; i++) {
      var name = CLICK_IDS[i];
      if (ids[name]) parts.push(name + '=' + encodeURIComponent(ids[name]));
    }
    document.cookie = STORE + '=' + parts.join('&') + '; Max-Age=' + MAX_AGE +
      '; Path=/; SameSite=Lax' + (window.location.protocol === 'https:' ? '; Secure' : '');
  }

  // The ids as of now: stored ones, replaced by newer ones in the URL; the cookies read fresh
  // (a pixel may set _fbp after this script ran).
  function current() {
    var ids = params(cookie(STORE));
    var fresh = fromUrl();
    var changed = false;
    for (var i = 0; i < CLICK_IDS.length; i++) {
      var name = CLICK_IDS[i];
      if (fresh[name] && fresh[name] !== ids[name]) {
        ids[name] = fresh[name];
        changed = true;
      }
    }
    if (changed) save(ids);
    for (var field in COOKIES) {
      if (!COOKIES.hasOwnProperty(field)) continue;
      var value = cookie(COOKIES[field]);
      if (value && value.length <= MAX_LEN) ids[field] = value;
    }
    return ids;
  }

  function fill(form, ids) {
    if (!form || typeof form.querySelector !== 'function') return;
    for (var i = 0; i < FIELDS.length; i++) {
      var name = FIELDS[i];
      var value = ids[name];
      if (!value) continue;
      var input = form.querySelector('[name="' + name + '"]');
      if (!input) {
        input = document.createElement('input');
        input.type = 'hidden';
        input.name = name;
        form.appendChild(input);
      }
      var ours = input.getAttribute(MARK);
      if (!input.value || (ours !== null && input.value === ours)) {
        input.value = value;
        input.setAttribute(MARK, value);
      }
    }
  }

  var fillAll = safe(function () {
    var ids = current();
    for (var i = 0; i < document.forms.length; i++) fill(document.forms[i], ids);
  });

  function hasForm(node) {
    return node.nodeType === 1 &&
      (node.nodeName === 'FORM' || (node.querySelector && node.querySelector('form') !== null));
  }

  var watch = safe(function () {
    // Filling at submit time covers everything, including cookies set late; the observer fills
    // forms added later right away, for pages that read their inputs before submitting.
    document.addEventListener('submit', safe(function (event) {
      fill(event.target, current());
    }), true);
    if (!window.MutationObserver) return;
    new MutationObserver(safe(function (records) {
      for (var i = 0; i < records.length; i++) {
        var added = records[i].addedNodes;
        for (var j = 0; j < added.length; j++) {
          if (hasForm(added[j])) return fillAll();
        }
      }
    })).observe(document.documentElement, { childList: true, subtree: true });
  });

  var start = safe(function () {
    fillAll();
    watch();
  });

  safe(function () {
    // For forms that post with fetch: window.signalpost.ids() gives the same values.
    window.signalpost = window.signalpost || {};
    window.signalpost.ids = safe(function () { return current(); });
    if (document.readyState === 'loading') {
      document.addEventListener('DOMContentLoaded', start);
    } else {
      start();
    }
  })();
})();
