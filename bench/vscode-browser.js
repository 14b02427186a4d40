// Holds a VS Code (code-server) window open in headless Chromium through the DevTools protocol,
// for bench/connection-traffic: prints "open" a minute after the workbench is up and leaves it
// untouched for SECONDS, then prints "typing" and types two characters a second into a new file
// for SECONDS, then prints "left" and leaves it untouched again for SECONDS. Usage: node --experimental-websocket vscode-browser.js CHROMIUM URL SECONDS
"use strict";
const { spawn } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");

const [chromium, url, secondsArg] = process.argv.slice(2);
const seconds = Number(secondsArg);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "trnidled-chromium-"));
  const port = 9200 + Math.floor(Math.random() * 500);
  const browser = spawn(chromium, ["--headless=new", "--no-sandbox", "--disable-gpu",
    `--remote-debugging-port=${port}`, `--user-data-dir=${profile}`, "about:blank"],
    { stdio: "ignore" });
  try {
    let targets;
    for (let i = 0; i < 100 && !targets; i++) {
      try {
        targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
      } catch { await sleep(200); }
    }
    const page = targets.find((t) => t.type === "page");
    const ws = new WebSocket(page.webSocketDebuggerUrl);
    await new Promise((r) => ws.addEventListener("open", r));
    let id = 0;
    const pending = new Map();
    ws.addEventListener("message", (ev) => {
      const m = JSON.parse(ev.data);
      if (m.id && pending.has(m.id)) { pending.get(m.id)(m.result); pending.delete(m.id); }
    });
    const send = (method, params = {}) => new Promise((r) => {
      pending.set(++id, r);
      ws.send(JSON.stringify({ id, method, params }));
    });
    const evaluate = async (expr) =>
      (await send("Runtime.evaluate", { expression: expr, returnByValue: true })).result.value;

    await send("Page.navigate", { url });
    for (let i = 0; i < 300; i++) {
      if (await evaluate("!!document.querySelector('.monaco-workbench .part.editor')")) break;
      await sleep(500);
    }
    await sleep(60000); // the first minute loads the workbench, extensions, the file tree
    console.log("open");
    await sleep((seconds + 3) * 1000);

    // Ctrl+N: a new file, focused; then type.
    const key = (type, k, code, mods = 0, text) =>
      send("Input.dispatchKeyEvent", { type, key: k, code, modifiers: mods,
        windowsVirtualKeyCode: k.toUpperCase().charCodeAt(0), text });
    await key("rawKeyDown", "n", "KeyN", 2);
    await key("keyUp", "n", "KeyN", 2);
    await sleep(2000);
    console.log("typing");
    const end = Date.now() + (seconds + 3) * 1000;
    const words = "the quick brown fox jumps over the lazy dog ";
    for (let i = 0; Date.now() < end; i++) {
      await send("Input.insertText", { text: words[i % words.length] });
      await sleep(500);
    }
    const typed = await evaluate("document.querySelector('.view-lines')?.innerText.length ?? -1");
    console.log(`typed ${typed}`);
    await sleep(5000);
    console.log("left");
    await sleep((seconds + 3) * 1000);
    ws.close();
  } finally {
    browser.kill();
    await sleep(2000);
    try { fs.rmSync(profile, { recursive: true, force: true }); } catch {}
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
