// The dashboard's live parts: the token countdown, the refresh log (polling
// /__tessera/session) and the "Call the API" button. Plain DOM, no framework.
const $ = (id) => document.getElementById(id);
const clock = (seconds) => new Date(seconds * 1000).toLocaleTimeString([], { hour12: false });
const now = () => Date.now() / 1000;

let token = { iat: Number(document.body.dataset.issuedAt), exp: Number(document.body.dataset.expiresAt) };

function log(label, t) {
  const item = document.createElement('li');
  item.dataset.iat = String(t.iat);
  item.dataset.exp = String(t.exp);
  item.innerHTML = `<span class="tag"></span><span class="when"></span><span class="span"></span>`;
  item.querySelector('.tag').textContent = label;
  item.querySelector('.when').textContent = clock(now());
  item.querySelector('.span').textContent = `issued ${clock(t.iat)} · expires ${clock(t.exp)}`;
  $('refresh-log').prepend(item);
}

function tick() {
  const left = token.exp - now();
  const lifetime = Math.max(1, token.exp - token.iat);
  $('countdown').textContent = left > 0 ? `expires in ${Math.ceil(left)} s` : 'expired: renewed on the next request';
  $('countdown').parentElement.classList.toggle('late', left <= 0);
  $('meter-fill').style.width = `${Math.max(0, Math.min(100, (100 * left) / lifetime))}%`;
  $('issued').textContent = clock(token.iat);
  $('expires').textContent = clock(token.exp);
}

function seen(t) {
  if (t.iat === token.iat && t.exp === token.exp) return;
  token = t;
  log('refreshed', t);
  tick();
}

async function poll() {
  try {
    const res = await fetch('/__tessera/session', { headers: { accept: 'application/json' } });
    if (res.status === 200) {
      const { identity } = await res.json();
      seen({ iat: identity.iat, exp: identity.exp });
      document.body.classList.remove('signed-out', 'unavailable');
    } else {
      document.body.classList.toggle('signed-out', res.status === 401);
      document.body.classList.toggle('unavailable', res.status === 503);
    }
  } catch {
    document.body.classList.add('unavailable');
  }
}

async function callApi() {
  const status = $('api-status');
  status.textContent = '…';
  status.className = 'status';
  const res = await fetch('/api/me', { headers: { accept: 'application/json' } });
  const body = await res.text();
  const tessera = res.headers.get('x-tessera-status');
  status.textContent = `${res.status} ${res.ok ? 'OK' : res.statusText}${tessera ? ` · ${tessera}` : ''}`;
  status.classList.add(res.ok ? 'ok' : 'bad');
  let pretty = body;
  try { pretty = JSON.stringify(JSON.parse(body), null, 2); } catch { /* not JSON: shown as is */ }
  $('api-body').textContent = pretty;
  $('api-body').hidden = false;
  await poll();
}

log('signed in', token);
tick();
setInterval(tick, 250);
setInterval(poll, 2000);
$('call-api').addEventListener('click', () => { callApi().catch((e) => { $('api-status').textContent = String(e); }); });
