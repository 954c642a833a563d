/*
 * OneVault browser tracker: the readable source. The service minifies it with calmjs.parse (an ES5
 * parser that also shortens local names) and serves it at /tracker.js, so this file is ES5: var and
 * function, no arrow functions, let, const or template strings. Two ways to start it:
 *
 *   <script defer data-site-key="ovsk_..." src="https://onevault.example/tracker.js"></script>
 *   var t = new OneVaultTracker({apiBaseUrl: ..., apiToken: "ovsk_...", useAsync: true});
 *
 * Rules that shape the code: it must never throw into the host page (every entry point is guarded and
 * every promise has a catch), it sends text/plain so the browser makes no CORS preflight, and it stays
 * under 2.5 KB gzipped (a test measures the served bytes).
 */
(function (win, doc) {
  'use strict';
  var nav = navigator;
  var loc = location;
  var SESSION_MS = 30 * 60 * 1000;
  var BATCH_DELAY_MS = 1000;
  var MAX_BATCH = 50;
  var MAX_BYTES = 60000;
  var MAX_EVENT = 32000;
  var MAX_RETRY = 100; // events kept for retry; older ones are dropped first
  var MAX_ATTEMPTS = 8;
  var MIN_ENGAGED_MS = 1000;
  var DOWNLOAD = /\.(pdf|docx?|xlsx?|pptx?|odt|ods|csv|txt|rtf|zip|rar|7z|gz|tgz|bz2|dmg|exe|msi|pkg|deb|rpm|apk|iso|epub|mp3|wav|mp4|mov|avi|mkv|webm)$/i;
  var VISITOR = 'onevault_vid';
  var SESSION = 'onevault_sid';
  var RETRY = 'onevault_retry';
  var OPT_OUT = 'onevault_ignore';

  // Returns fn wrapped so that nothing it throws reaches the caller.
  function guard(fn) {
    return function () {
      try {
        return fn.apply(this, arguments);
      } catch (e) {
        // swallowed on purpose: analytics must never break the page it measures
      }
    };
  }

  // localStorage can be absent or throw (blocked storage, private modes, full quota): then null.
  var storage = (function () {
    try {
      var s = win.localStorage;
      s.setItem(OPT_OUT + '_t', '1');
      s.removeItem(OPT_OUT + '_t');
      return s;
    } catch (e) {
      return null;
    }
  })();

  function read(key) {
    try {
      return storage && storage.getItem(key);
    } catch (e) {
      return null;
    }
  }

  function write(key, value) {
    try {
      if (value == null) storage.removeItem(key);
      else storage.setItem(key, value);
    } catch (e) {
      // a full or blocked store only costs the ids or the retry copy
    }
  }

  // 32 random hex digits; getRandomValues works outside secure contexts, unlike randomUUID.
  function randomId() {
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), function (b) {
      return (b + 256).toString(16).slice(1);
    }).join('');
  }

  function OneVaultTracker(options) {
    var tracker = this;
    var opts = options || {};
    var cookieless = opts.cookieless || !storage;
    var endpoint = String(opts.apiBaseUrl || '').replace(/\/+$/, '') +
      '/api/v1/track/batch?site_key=' + encodeURIComponent(opts.apiToken || '');
    var queue = []; // new events, not yet sent
    var retry = []; // [event, failed attempts, in flight]: kept until the server confirms them
    var timer = 0;
    var pageUrl = ''; // the page of the last page view, which engagement time belongs to
    var engaged = 0; // visible milliseconds on that page not yet reported
    var visibleSince = 0;

    if (!cookieless) {
      try {
        retry = JSON.parse(read(RETRY) || '[]').map(function (item) {
          return [item[0], item[1]];
        });
      } catch (e) {
        retry = [];
      }
    }

    // Do-Not-Track, Global Privacy Control, the visitor's own opt-out and automated browsers.
    function blocked() {
      return nav.doNotTrack == '1' || win.doNotTrack == '1' || nav.globalPrivacyControl === true ||
        read(OPT_OUT) == 'true' || (nav.webdriver && !opts.countAutomated);
    }

    function saveRetry() {
      if (!cookieless) write(RETRY, retry.length ? JSON.stringify(retry.slice(-MAX_RETRY)) : null);
    }

    function identify(event, now) {
      if (cookieless) return; // the server derives a daily cookieless visitor key and the sessions
      var visitor = read(VISITOR);
      if (!visitor) write(VISITOR, visitor = 'visitor_' + randomId());
      var session = (read(SESSION) || '').split('.');
      if (!(now - session[1] < SESSION_MS)) session[0] = 'sess_' + randomId();
      write(SESSION, session[0] + '.' + now);
      event.visitor_id = visitor;
      event.session_id = session[0];
    }

    function track(type, props, extra) {
      if (blocked()) return;
      var now = Date.now();
      var event = {
        event_id: 'evt_' + randomId(),
        event_type: String(type).slice(0, 100),
        page_url: loc.href.slice(0, 2048),
        timestamp: new Date(now).toISOString(),
        event_data: {
          title: doc.title.slice(0, 512),
          language: nav.language,
          screen_resolution: screen.width + 'x' + screen.height,
          viewport_size: win.innerWidth + 'x' + win.innerHeight
        }
      };
      for (var key in extra) event[key] = extra[key];
      // Copied now, so a cyclic or huge object fails here, alone, and never poisons a whole batch.
      if (props) event.event_data.properties = JSON.parse(JSON.stringify(props));
      identify(event, now);
      if (JSON.stringify(event).length > MAX_EVENT) return;
      queue.push(event);
      if (opts.useAsync === false || queue.length >= MAX_BATCH) flush();
      else timer = timer || setTimeout(guard(flush), BATCH_DELAY_MS);
    }

    function failed(items) {
      items.forEach(function (item) {
        item[1]++;
        item[2] = 0;
      });
      retry = retry.filter(function (item) {
        return item[1] < MAX_ATTEMPTS;
      }).slice(-MAX_RETRY);
      saveRetry();
      setTimeout(guard(flush), 2000 * items[0][1]); // back off: 2 s, 4 s, 6 s...
    }

    function confirmed(items) {
      retry = retry.filter(function (item) {
        return items.indexOf(item) < 0;
      });
      saveRetry();
    }

    // Sends what waits. While the page lives, fetch reports the outcome and failures are retried; when it
    // is going away, sendBeacon hands the request to the browser, which delivers it after the page is gone.
    function flush(leaving) {
      clearTimeout(timer);
      timer = 0;
      var items = queue.splice(0).map(function (event) {
        return [event, 0];
      });
      retry = retry.concat(items);
      items = retry.filter(function (item) {
        return !item[2];
      });
      // Requests stay under the 64 KB a beacon or keepalive fetch may carry, and under MAX_BATCH events.
      var chunk = [];
      var size = 0;
      items.forEach(function (item) {
        var length = JSON.stringify(item[0]).length;
        if (chunk.length && (size + length > MAX_BYTES || chunk.length == MAX_BATCH)) {
          send(chunk, leaving);
          chunk = [];
          size = 0;
        }
        chunk.push(item);
        size += length;
      });
      if (chunk.length) send(chunk, leaving);
    }

    function send(items, leaving) {
      var body = JSON.stringify({events: items.map(function (item) {
        return item[0];
      })});
      if (leaving && nav.sendBeacon && nav.sendBeacon(endpoint, body)) {
        // Delivery cannot be confirmed: new events are done; earlier failures stay stored for the next page.
        confirmed(items.filter(function (item) {
          return !item[1];
        }));
        return;
      }
      items.forEach(function (item) {
        item[2] = 1;
      });
      fetch(endpoint, {method: 'POST', body: body, keepalive: true, credentials: 'omit'}).then(function (r) {
        // 408, 429 and 5xx may pass; any other refusal will not, so retrying it would only repeat it.
        if (r.status < 500 && r.status != 408 && r.status != 429) confirmed(items);
        else failed(items);
      }).catch(guard(function () {
        failed(items);
      }));
    }

    function measure() {
      var now = Date.now();
      if (visibleSince) engaged += now - visibleSince;
      visibleSince = doc.visibilityState == 'visible' ? now : 0;
    }

    // Reports the visible time on the current page; `leave` ends the page (its remainder is dropped).
    function engagement(leave) {
      measure();
      if (pageUrl && engaged >= MIN_ENGAGED_MS) {
        track('engagement', 0, {page_url: pageUrl, event_data: {title: doc.title, engaged_ms: engaged}});
        engaged = 0;
      }
      if (leave) engaged = 0;
    }

    function pageView(props) {
      engagement(1);
      var referrer = pageUrl || doc.referrer;
      pageUrl = loc.href.slice(0, 2048);
      track('page_view', props, referrer ? {referrer: referrer.slice(0, 2048)} : 0);
    }

    // A path (or, with hashRouting, a hash) that differs from the last page view's is a new page.
    function route(url) {
      return opts.hashRouting ? url : url.split('#')[0];
    }

    function navigated() {
      // Routers set the new title just after they change the URL: look a moment later.
      setTimeout(guard(function () {
        if (route(loc.href) != route(pageUrl)) pageView();
      }), 100);
    }

    function hidden() {
      engagement();
      flush(1);
    }

    function click(e) {
      var link = e.target.closest && e.target.closest('a[href]');
      if (!link || (e.type == 'auxclick' && e.button != 1)) return;
      var url = String(link.href);
      if (opts.fileDownloads && (link.hasAttribute('download') || DOWNLOAD.test(link.pathname))) {
        track('file_download', {url: url});
      } else if (opts.outboundLinks && /^https?:$/.test(link.protocol) && link.host != loc.host) {
        track('outbound_link', {url: url});
      }
    }

    function listen(target, type, fn) {
      target.addEventListener(type, guard(fn), true);
    }

    function patch(name) {
      var original = history[name];
      history[name] = function () {
        var result = original.apply(this, arguments);
        guard(navigated)();
        return result;
      };
    }

    tracker.trackPageView = guard(pageView);
    tracker.trackEvent = guard(function (name, props) {
      if (name) track(name, props);
    });
    tracker.flush = guard(flush);
    tracker.optOut = guard(function () {
      write(OPT_OUT, 'true');
    });
    tracker.optIn = guard(function () {
      write(OPT_OUT);
    });

    try {
      measure();
      listen(doc, 'visibilitychange', function () {
        if (doc.visibilityState == 'hidden') hidden();
        else measure();
      });
      listen(win, 'pagehide', hidden);
      listen(win, 'pageshow', function (e) {
        if (e.persisted && opts.autoPageViews) pageView(); // restored from the back-forward cache
      });
      listen(doc, 'click', click);
      listen(doc, 'auxclick', click);
      if (opts.autoPageViews) {
        patch('pushState');
        patch('replaceState');
        listen(win, 'popstate', navigated);
        if (opts.hashRouting) listen(win, 'hashchange', navigated);
        pageView();
      }
      if (retry.length) flush();
    } catch (e) {
      // a half-started tracker is still better than an error in the host page
    }
  }

  win.OneVaultTracker = OneVaultTracker;

  // The script tag: <script defer data-site-key=... src=".../tracker.js">, options as data-* attributes.
  guard(function () {
    var script = doc.currentScript;
    var data = script && script.dataset;
    if (!data || !data.siteKey) return;
    var opts = {
      apiBaseUrl: data.api || new URL(script.src).origin,
      apiToken: data.siteKey,
      autoPageViews: data.autoPageViews != 'false'
    };
    ['cookieless', 'outboundLinks', 'fileDownloads', 'hashRouting', 'countAutomated'].forEach(function (key) {
      opts[key] = key in data && data[key] != 'false';
    });
    var tracker = new OneVaultTracker(opts);
    // onevault('trackEvent', name, props) works before the script loads (a stub queues the calls) and after.
    var pending = (win.onevault && win.onevault.q) || [];
    var call = win.onevault = guard(function (method) {
      return tracker[method].apply(tracker, [].slice.call(arguments, 1));
    });
    call.tracker = tracker;
    pending.forEach(function (args) {
      call.apply(null, args);
    });
  })();
})(window, document);
