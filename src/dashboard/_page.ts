/**
 * The dashboard's page: HTML, CSS and a script without dependencies that
 * opens the live WebSocket beside the page (`<page path>/live`, with the
 * page's query string, so a token in it reaches `authenticate`), shows each
 * update and draws the message rates as a moving SVG chart. Data is written
 * with `textContent` only: room names come from users. Internal.
 *
 * @module
 */

/** Updates the chart keeps: a minute at the default interval. */
const HISTORY = 60;

const NAMES: Record<string, string> = {
  "1000": "normal",
  "1001": "going away",
  "1005": "no code",
  "1006": "dropped",
  "1008": "policy",
  "1009": "too big",
  "1011": "server error",
  "1012": "handed off",
  "1013": "try again later",
};

/**
 * The page.
 *
 * @param title Its title, HTML-escaped here.
 * @returns The HTML.
 */
export function page(title: string): string {
  const safe = title.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${safe}</title>
<style>
  :root { color-scheme: light dark; --in: #2f7fd8; --out: #e0701e; --line: #8884; }
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; padding: 16px 20px; }
  header { display: flex; justify-content: space-between; align-items: baseline; }
  h1 { font-size: 20px; margin: 0 0 12px; }
  #status { font-size: 13px; opacity: .8; }
  #status.live::before { content: "● "; color: #2a2; }
  main { display: grid; gap: 12px; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); }
  section { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
  section.wide { grid-column: 1 / -1; }
  h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; margin: 0 0 8px; opacity: .75; }
  .big { font-size: 26px; font-variant-numeric: tabular-nums; }
  .row { display: flex; gap: 24px; flex-wrap: wrap; }
  .label { font-size: 12px; opacity: .7; }
  table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
  td { padding: 2px 4px; border-bottom: 1px solid var(--line); }
  td:last-child { text-align: right; }
  .empty { opacity: .6; font-style: italic; }
  svg { width: 100%; height: 160px; }
  .in { color: var(--in); } .out { color: var(--out); }
</style>
</head>
<body>
<header><h1>${safe}</h1><span id="status">connecting…</span></header>
<main>
  <section>
    <h2>Connections</h2>
    <div class="row">
      <div><div class="big" id="connections-total">–</div><div class="label">open</div></div>
      <div><div class="big" id="connections-websocket">–</div><div class="label">WebSocket</div></div>
      <div><div class="big" id="connections-sse">–</div><div class="label">SSE fallback</div></div>
    </div>
    <div class="label" id="handshakes"></div>
  </section>
  <section>
    <h2>Messages per second</h2>
    <div class="row">
      <div><div class="big in" id="messages-in-rate">–</div><div class="label">in (<span id="messages-in-total">0</span> in all)</div></div>
      <div><div class="big out" id="messages-out-rate">–</div><div class="label">out (<span id="messages-out-total">0</span> in all)</div></div>
    </div>
  </section>
  <section>
    <h2>JSON-RPC</h2>
    <div class="row">
      <div><div class="big" id="rpc-rate">–</div><div class="label">calls served / s</div></div>
      <div><div class="big" id="rpc-p99">–</div><div class="label">p99 ms</div></div>
      <div><div class="big" id="rpc-errors">–</div><div class="label">errors</div></div>
    </div>
    <div class="label" id="rpc-made"></div>
  </section>
  <section class="wide">
    <h2>Messages per second, last ${HISTORY} updates <span class="in">■ in</span> <span class="out">■ out</span></h2>
    <svg id="chart" viewBox="0 0 600 160" preserveAspectRatio="none">
      <line x1="0" y1="159.5" x2="600" y2="159.5" stroke="currentColor" stroke-opacity=".3"/>
      <polyline id="chart-in" fill="none" stroke="var(--in)" stroke-width="2" points=""/>
      <polyline id="chart-out" fill="none" stroke="var(--out)" stroke-width="2" stroke-dasharray="6 3" points=""/>
      <text id="chart-max" x="4" y="14" font-size="12" fill="currentColor" opacity=".7"></text>
    </svg>
  </section>
  <section><h2>Close codes</h2><table id="closes"></table></section>
  <section><h2>Rooms (this process)</h2><table id="rooms"></table></section>
  <section><h2>Backplane</h2><table id="backplanes"></table></section>
</main>
<script type="module">
const HISTORY = ${HISTORY};
const NAMES = ${JSON.stringify(NAMES)};
const history = [];
const $ = (id) => document.getElementById(id);
const fmt = (n) => n === null || n === undefined ? "–" : n.toLocaleString("en-US", { maximumFractionDigits: 1 });

function table(id, rows, empty) {
  const el = $(id);
  el.replaceChildren();
  if (rows.length === 0) {
    const td = el.insertRow().insertCell();
    td.className = "empty";
    td.textContent = empty;
    return;
  }
  for (const cells of rows) {
    const tr = el.insertRow();
    for (const cell of cells) tr.insertCell().textContent = cell;
  }
}

function draw() {
  const max = Math.max(1, ...history.flatMap((h) => [h.in, h.out]));
  // The newest update at the right edge: the chart moves to the left.
  const x = (i) => 600 - (history.length - 1 - i) * 600 / (HISTORY - 1);
  const points = (key) => history.map((h, i) =>
    \`\${x(i).toFixed(1)},\${(158 - h[key] / max * 140).toFixed(1)}\`
  ).join(" ");
  $("chart-in").setAttribute("points", points("in"));
  $("chart-out").setAttribute("points", points("out"));
  $("chart-max").textContent = fmt(max) + " / s";
}

function render(s) {
  const open = s.connections.websocket + s.connections.sse;
  $("connections-total").textContent = fmt(open);
  $("connections-websocket").textContent = fmt(s.connections.websocket);
  $("connections-sse").textContent = fmt(s.connections.sse);
  $("handshakes").textContent = "handshakes: " + (Object.entries(s.handshakes)
    .map(([status, n]) => status + " × " + n).join(", ") || "none yet") +
    (s.resumed ? "; sessions resumed: " + s.resumed : "");
  $("messages-in-rate").textContent = fmt(s.messages.inPerSecond);
  $("messages-out-rate").textContent = fmt(s.messages.outPerSecond);
  $("messages-in-total").textContent = fmt(s.messages.in);
  $("messages-out-total").textContent = fmt(s.messages.out);
  $("rpc-rate").textContent = fmt(s.rpc.served.perSecond);
  $("rpc-p99").textContent = fmt(s.rpc.served.p99);
  $("rpc-errors").textContent = fmt(s.rpc.served.errors);
  $("rpc-made").textContent = s.rpc.made.total
    ? "calls made: " + fmt(s.rpc.made.perSecond) + " / s, p99 " + fmt(s.rpc.made.p99) + " ms, " + fmt(s.rpc.made.errors) + " errors"
    : "";
  table("closes", Object.entries(s.closes).sort((a, b) => b[1] - a[1])
    .map(([code, n]) => [code + (NAMES[code] ? " " + NAMES[code] : ""), fmt(n)]), "no close yet");
  table("rooms", Object.entries(s.rooms).sort((a, b) => b[1] - a[1]).slice(0, 50)
    .map(([room, n]) => [room, fmt(n)]), "no room");
  table("backplanes", s.backplanes.map((b) => [
    b.name + (b.connected ? " connected" : " DISCONNECTED"),
    "buffered " + fmt(b.buffered) + ", dropped " + fmt(b.dropped),
  ]), "in memory (one process)");
  history.push({ in: s.messages.inPerSecond, out: s.messages.outPerSecond });
  if (history.length > HISTORY) history.shift();
  draw();
}

function connect() {
  const url = new URL(location.pathname.replace(/\\/$/, "") + "/live" + location.search, location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(url);
  ws.onopen = () => { $("status").textContent = "live"; $("status").className = "live"; };
  ws.onmessage = (event) => render(JSON.parse(event.data));
  ws.onclose = (event) => {
    $("status").className = "";
    $("status").textContent = "disconnected (" + event.code + (event.reason ? " " + event.reason : "") + "), retrying";
    setTimeout(connect, event.code === 1008 ? 10000 : 1000);
  };
}
connect();
</script>
</body>
</html>
`;
}
