// The demo page: pick who you are, chat with the bot through the JSON API (see README), poll for replies.
"use strict";
const $ = (id) => document.getElementById(id);
const state = { who: null, after: 0, nodes: new Map(), timer: null, queue: Promise.resolve() };

async function api(path, body, isForm) {
  const options = body === undefined ? {} : { method: "POST", body: isForm ? body : JSON.stringify(body),
    headers: isForm ? {} : { "Content-Type": "application/json" } };
  const response = await fetch(path, options);
  if (!response.ok) throw new Error(await response.text());
  return response.json();
}

function toast(text) {
  if (!text) return;
  const el = $("toast");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 3000);
}

function bubble(text, mine) {
  const div = document.createElement("div");
  div.className = "msg " + (mine ? "me" : "bot");
  div.textContent = text;
  $("chat").appendChild(div);
  scrollDown();
  return div;
}

function scrollDown() { const main = document.querySelector("main"); main.scrollTop = main.scrollHeight; }

function render(message) {
  const div = document.createElement("div");
  div.className = "msg bot" + (message.edited ? " edited" : "");
  div.dataset.messageId = message.message_id;
  const text = document.createElement("div");
  text.textContent = message.text;
  div.appendChild(text);
  if (message.media) {
    const media = document.createElement("div");
    media.className = "media";
    if (message.media.kind === "photo") {
      const img = document.createElement("img");
      img.src = message.media.url;
      img.alt = message.media.filename || "图片";
      media.appendChild(img);
    } else {
      const link = document.createElement("a");
      link.href = message.media.url;
      link.textContent = "⬇ " + (message.media.filename || "下载文件");
      link.setAttribute("download", message.media.filename || "");
      media.appendChild(link);
    }
    div.appendChild(media);
  }
  if (message.buttons && message.buttons.length) {
    const box = document.createElement("div");
    box.className = "buttons";
    for (const row of message.buttons) {
      const line = document.createElement("div");
      line.className = "row";
      for (const b of row) {
        if (b.url) {
          const a = document.createElement("a");
          a.href = b.url; a.textContent = b.text; a.target = "_blank"; a.rel = "noopener";
          line.appendChild(a);
          continue;
        }
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = b.text;
        button.addEventListener("click", () => b.data ? press(message.message_id, b.data) : send(b.text));
        line.appendChild(button);
      }
      box.appendChild(line);
    }
    div.appendChild(box);
  }
  return div;
}

async function poll() {
  if (!state.who) return;
  const who = state.who;
  try {
    const messages = await api(`/api/messages?as=${encodeURIComponent(who)}&after=${state.after}`);
    if (who !== state.who) return;
    for (const message of messages) {
      state.after = Math.max(state.after, message.seq || message.message_id);
      const node = render(message);
      const old = state.nodes.get(message.message_id);
      if (old && message.edited) old.replaceWith(node); else $("chat").appendChild(node);
      state.nodes.set(message.message_id, node);
    }
    if (messages.length) scrollDown();
  } catch (error) { console.warn(error); }
}

// Actions run one after another, in the order the person made them (as the bot handles one chat).
function act(work) {
  state.queue = state.queue.then(async () => {
    try { const result = await work(); toast(result && result.toast); } catch (error) { toast(String(error.message || error)); }
    await poll();
  });
  return state.queue;
}

function send(text) {
  text = (text || "").trim();
  if (!text || !state.who) return;
  bubble(text, true);
  return act(() => api("/api/send", { as: state.who, text }));
}

function press(messageId, data) { return act(() => api("/api/press", { as: state.who, message_id: messageId, data })); }

async function choose(who) {
  state.who = who; state.after = 0; state.nodes.clear();
  $("chat").innerHTML = "";
  localStorage.setItem("demo-who", who);
  await poll();
  if (!$("chat").children.length) await send("/start");
}

async function showTime(now) {
  if (!now) now = (await api("/api/clock", { advance_minutes: 0 })).now;
  $("now").textContent = "演示时间 " + new Date(now).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false });
}

async function main() {
  const people = await api("/api/people");
  const roles = { member: "党员", secretary: "书记", agent: "乡镇代理员", newcomer: "新来的", applicant: "入党申请人" };
  for (const p of people) {
    const option = document.createElement("option");
    option.value = p.id;
    option.textContent = `${p.name} · ${roles[p.role] || p.role}`;
    $("person").appendChild(option);
  }
  $("person").addEventListener("change", (e) => choose(e.target.value));
  $("send").addEventListener("submit", (e) => { e.preventDefault(); const t = $("text").value; $("text").value = ""; send(t); });
  for (const chip of document.querySelectorAll("[data-command]")) chip.addEventListener("click", () => send(chip.dataset.command));
  for (const chip of document.querySelectorAll("[data-advance]")) {
    chip.addEventListener("click", () => act(async () => {
      const result = await api("/api/clock", { advance_minutes: Number(chip.dataset.advance) });
      await showTime(result.now);
      return { toast: "时间已前进 Time moved on" };
    }));
  }
  $("file").addEventListener("change", (e) => {
    const file = e.target.files[0];
    if (!file || !state.who) return;
    const form = new FormData();
    form.append("as", state.who);
    form.append("file", file);
    bubble("📎 " + file.name, true);
    e.target.value = "";
    act(() => api("/api/upload", form, true));
  });
  const saved = localStorage.getItem("demo-who");
  const first = people.find((p) => p.id === saved) || people[0];
  if (first) { $("person").value = first.id; await choose(first.id); }
  await showTime();
  state.timer = setInterval(poll, 2000);
}

main();
