// The da3 serve page: uploads the dropped images as one scene to POST /v1/inference, polls the
// task, then shows each view's depth beside its image, the scene's points and cameras (the
// task's scene.glb, drawn with three.js) and links to every file. Plain script, no build step:
// THREE, THREE.OrbitControls and THREE.GLTFLoader come from Debian's libjs-three (/vendor/).
'use strict';

const $ = (id) => document.getElementById(id);
let files = [];
let viewer = null;
let hasCameras = true;  // from /v1/status: without poses there is no glb (and no 3D view)

// Every request carries the bearer token when the server wants one (the page asks for it after a 401).
function authHeaders() {
  const t = localStorage.getItem('da3-token') || '';
  return t ? { Authorization: 'Bearer ' + t } : {};
}

async function api(path, options = {}) {
  const res = await fetch(path, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
  if (res.status === 401) {
    $('token-box').hidden = false;
    throw new Error('this server needs a token: enter it at the top right');
  }
  if (!res.ok) {
    let msg = res.status + ' ' + res.statusText;
    try { const j = await res.json(); if (j.error) msg = j.error.message; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return res;
}

function setState(text, fraction, failed) {
  $('message').textContent = text;
  $('bar').value = fraction;
  $('state').classList.toggle('failed', !!failed);
}

function chooseFiles(list) {
  files = Array.from(list).filter((f) => f.type.startsWith('image/') || /\.(png|jpe?g|bmp|tiff?|webp)$/i.test(f.name));
  $('run').disabled = files.length === 0;
  setState(files.length ? files.length + ' image(s) ready: press Run.' : 'No images among the dropped files.', 0);
}

async function loadStatus() {
  try {
    const s = await (await api('/v1/status')).json();
    hasCameras = s.model.cameras;
    document.querySelectorAll('.fmt.needs-cameras').forEach((c) => {
      c.disabled = !hasCameras;
      if (!hasCameras) c.checked = false;
    });
    $('model').textContent = `${s.model.name} · ${s.device} · ${s.precision} · queue ${s.queue.queued}/${s.queue.max_queue}`;
  } catch (e) {
    $('model').textContent = e.message;
  }
}

async function run() {
  $('run').disabled = true;
  $('views').innerHTML = '';
  $('downloads').innerHTML = '';
  $('scene-box').hidden = true;
  $('downloads-box').hidden = true;
  const form = new FormData();
  for (const f of files) form.append('images', f, f.name);
  const formats = new Set(hasCameras ? ['depth_png', 'glb'] : ['depth_png']);  // what the page itself shows
  document.querySelectorAll('.fmt:checked').forEach((c) => formats.add(c.value));
  form.append('format', Array.from(formats).join(','));
  form.append('process_res', $('process_res').value);
  form.append('ray_pose', $('ray_pose').checked ? 'true' : 'false');
  try {
    setState('Uploading…', 0);
    const { id } = await (await api('/v1/inference', { method: 'POST', body: form })).json();
    const task = await poll(id);
    await showResults(id, task);
    setState(`Done: ${files.length} view(s).`, 1);
  } catch (e) {
    setState('Failed: ' + e.message, 0, true);
  } finally {
    $('run').disabled = files.length === 0;
    loadStatus();
  }
}

async function poll(id) {
  for (;;) {
    const t = await (await api('/v1/tasks/' + id)).json();
    if (t.state === 'done') return t;
    if (t.state === 'failed') throw new Error(t.error.message);
    const p = t.progress;
    const where = t.state === 'queued' ? `queued (position ${t.queue_position + 1})` : p.stage;
    setState(`Task ${id.slice(0, 8)}: ${where} (${p.done}/${p.total})`, p.total ? p.done / p.total : 0);
    await new Promise((r) => setTimeout(r, 300));
  }
}

async function blobUrl(id, path) {
  const blob = await (await api(`/v1/tasks/${id}/files/${path}`)).blob();
  return URL.createObjectURL(blob);
}

async function showResults(id, task) {
  const depthFiles = task.files.filter((f) => /^depth_png\/\d+(_[^/]*)?\.png$/.test(f));
  for (let i = 0; i < files.length; ++i) {
    const card = document.createElement('div');
    card.className = 'view';
    const src = document.createElement('img');
    src.src = URL.createObjectURL(files[i]);
    src.alt = 'image ' + i;
    const depth = document.createElement('img');
    depth.className = 'depth';
    depth.alt = 'depth ' + i;
    if (depthFiles[i]) depth.src = await blobUrl(id, depthFiles[i]);
    const pair = document.createElement('div');
    pair.className = 'pair';
    pair.append(src, depth);
    const name = document.createElement('div');
    name.className = 'name';
    name.textContent = files[i].name;
    card.append(pair, name);
    $('views').append(card);
  }
  if (task.files.includes('scene.glb')) {
    $('scene-box').hidden = false;
    const buffer = await (await api(`/v1/tasks/${id}/files/scene.glb`)).arrayBuffer();
    showScene(buffer);
  }
  $('downloads-box').hidden = false;
  for (const f of task.files) {
    const li = document.createElement('li');
    const a = document.createElement('a');
    a.textContent = f;
    // A plain link cannot send the token: fetch, then save the blob.
    a.addEventListener('click', async () => {
      const link = document.createElement('a');
      link.href = await blobUrl(id, f);
      link.download = f.replace(/\//g, '_');
      link.click();
    });
    li.append(a);
    $('downloads').append(li);
  }
}

function showScene(buffer) {
  const box = $('scene');
  if (!viewer) {
    const renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
    renderer.setPixelRatio(window.devicePixelRatio);
    renderer.setSize(box.clientWidth, box.clientHeight);
    box.append(renderer.domElement);
    const camera = new THREE.PerspectiveCamera(60, box.clientWidth / box.clientHeight, 0.001, 1000);
    const controls = new THREE.OrbitControls(camera, renderer.domElement);
    viewer = { renderer, camera, controls, scene: new THREE.Scene() };
    const loop = () => {
      requestAnimationFrame(loop);
      controls.update();
      renderer.render(viewer.scene, camera);
    };
    loop();
    window.addEventListener('resize', () => {
      renderer.setSize(box.clientWidth, box.clientHeight);
      camera.aspect = box.clientWidth / box.clientHeight;
      camera.updateProjectionMatrix();
    });
  }
  new THREE.GLTFLoader().parse(buffer, '', (gltf) => {
    viewer.scene = new THREE.Scene();
    viewer.scene.background = new THREE.Color(0x111111);
    viewer.scene.add(gltf.scene);
    gltf.scene.traverse((o) => {  // points from the glb are tiny by default
      if (o.isPoints) o.material.size = 2, o.material.sizeAttenuation = false;
    });
    // Frame the whole scene: look at its centre from a distance that fits its size.
    const bounds = new THREE.Box3().setFromObject(gltf.scene);
    const centre = bounds.getCenter(new THREE.Vector3());
    const size = bounds.getSize(new THREE.Vector3()).length() || 1;
    viewer.camera.near = size / 1000;
    viewer.camera.far = size * 100;
    // The glb is in glTF axes (y up, z backward) with the first camera looking down -z: stand
    // behind and a little above it.
    viewer.camera.position.copy(centre).add(new THREE.Vector3(0, 0.25 * size, 0.8 * size));
    viewer.camera.updateProjectionMatrix();
    viewer.controls.target.copy(centre);
    viewer.controls.update();
    box.dataset.ready = '1';  // for the page test: the scene was drawn
  }, (err) => setState('3D view failed: ' + (err.message || err), 1, true));
}

$('files').addEventListener('change', (e) => chooseFiles(e.target.files));
const drop = $('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  chooseFiles(e.dataTransfer.files);
});
$('run').addEventListener('click', run);
$('token').value = localStorage.getItem('da3-token') || '';
$('token').addEventListener('change', (e) => { localStorage.setItem('da3-token', e.target.value); loadStatus(); });
loadStatus();
