// The sidebar's search box (tools/build_docs.py): matches every word typed against the titles in search.js.
(function () {
  const box = document.getElementById('search'), list = document.getElementById('search-results');
  if (!box || !list || !window.BISSL_SEARCH) return;
  const root = box.dataset.root, kinds = {page: 0, api: 1, section: 2};
  box.addEventListener('input', () => {
    const words = box.value.toLowerCase().split(/\s+/).filter(w => w);
    list.replaceChildren();
    if (!words.length) return;
    const hits = window.BISSL_SEARCH.filter(e => words.every(w => (e.t + ' ' + e.p).toLowerCase().includes(w)))
      .sort((a, b) => kinds[a.k] - kinds[b.k] || a.t.length - b.t.length).slice(0, 20);
    for (const e of hits) {
      const a = document.createElement('a'), li = document.createElement('li');
      a.href = root + e.h; a.textContent = e.t;
      if (e.t !== e.p) { const s = document.createElement('span'); s.textContent = ' · ' + e.p; a.append(s); }
      a.className = 'hit-' + e.k; li.append(a); list.append(li);
    }
    if (!hits.length) { const li = document.createElement('li'); li.textContent = 'no match'; list.append(li); }
  });
})();
