// Runs the watchdog firmware under real MicroPython (WebAssembly) for the tests.
//
//   node run.mjs [--state HOSTFILE]
//
// Reads one command per line on stdin, answers on stdout, and ends every answer with "@done"
// so the driver (hardware/watchdog/mpsim.py) knows where it stops:
//   @boot {json}     power the board up (clock_start, pulse_ms, grace_s, max_resets)
//   > TEXT           the board receives TEXT + "\n" on its serial line
//   >x HEX           the board receives these raw bytes
//   @advance MS      MS milliseconds of board time pass (the clock moves only on this)
//   @serve {json}    power up and run main.serve() itself until until_ms, its serial input
//                    scripted as [[at_ms, HEX], ...]
//   @pulses          -> "@pulses [[start_ms, width_ms], ...]"
//   @pin             -> "@pin {id, open_drain, level, elapsed_ms}"
// Board output comes as "< LINE"; a Python exception as "@error TYPE MESSAGE".
// The board's state file lives in the emulated flash and is copied to HOSTFILE after every
// command, so a new run with the same HOSTFILE is the same board rebooted.

import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import {fileURLToPath} from "node:url";
import {loadMicroPython} from "@micropython/micropython-webassembly-pyscript/micropython.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const firmwareDir = path.join(here, "..", "firmware");
const FLASH_DIR = "/flash";
const STATE_FILE = FLASH_DIR + "/watchdog_state.txt";

function parseArgs(argv) {
  const args = {state: null};
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--state" && i + 1 < argv.length) args.state = argv[++i];
    else throw new Error("usage: node run.mjs [--state HOSTFILE]");
  }
  return args;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const emit = (line) => process.stdout.write(line + "\n");
  const mp = await loadMicroPython({stdout: emit, stderr: (line) => emit("@stderr " + line)});

  // The firmware's files as the board's flash would hold them, plus the test-only modules.
  mp.FS.mkdir(FLASH_DIR);
  mp.FS.mkdir("/lib");
  for (const [dir, name] of [
    [firmwareDir, "watchdog_logic.py"],
    [firmwareDir, "main.py"],
    [here, "machine.py"],
    [here, "harness.py"],
  ]) {
    mp.FS.writeFile("/lib/" + name, fs.readFileSync(path.join(dir, name), "utf8"));
  }

  let lastState = null;
  if (args.state && fs.existsSync(args.state)) {
    lastState = fs.readFileSync(args.state, "utf8");
    mp.FS.writeFile(STATE_FILE, lastState);
  }

  function syncState() {
    if (!args.state) return;
    let text;
    try {
      text = mp.FS.readFile(STATE_FILE, {encoding: "utf8"});
    } catch {
      return; // never written yet
    }
    if (text === lastState) return;
    // Write-then-rename, so a driver that kills us mid-copy still finds a whole file.
    fs.writeFileSync(args.state + ".tmp", text);
    fs.renameSync(args.state + ".tmp", args.state);
    lastState = text;
  }

  function py(src) {
    try {
      mp.runPython(src);
      return true;
    } catch (error) {
      if (error.name !== "PythonError") throw error;
      emit("@error " + error.type + " " + error.message.replace(/\s+/g, " ").trim());
      return false;
    }
  }

  function handle(line) {
    if (line.startsWith("> ")) {
      py(`harness.feed_hex("${Buffer.from(line.slice(2) + "\n", "latin1").toString("hex")}")`);
    } else if (line.startsWith(">x ")) {
      const hex = line.slice(3).trim();
      if (!/^([0-9a-fA-F]{2})*$/.test(hex)) emit("@error ValueError bad hex");
      else py(`harness.feed_hex("${hex}")`);
    } else if (line.startsWith("@boot")) {
      const opts = line.slice(5).trim() || "{}";
      JSON.parse(opts); // reject malformed options here, with a JS error the driver will see
      py(`harness.boot(${JSON.stringify(opts)})`);
    } else if (line.startsWith("@serve ")) {
      const opts = line.slice(7).trim();
      JSON.parse(opts);
      py(`harness.serve(${JSON.stringify(opts)})`);
    } else if (line.startsWith("@advance ")) {
      const ms = line.slice(9).trim();
      if (!/^[0-9]+$/.test(ms)) emit("@error ValueError bad advance");
      else py(`harness.advance(${ms})`);
    } else if (line === "@pulses") {
      py("harness.pulses()");
    } else if (line === "@pin") {
      py("harness.pin_info()");
    } else {
      emit("@error ValueError unknown runner command");
    }
    syncState();
    emit("@done");
  }

  // The firmware must at least import under MicroPython, or nothing else is worth running.
  if (!py("import harness")) process.exit(2);
  emit("@ready");

  const rl = readline.createInterface({input: process.stdin, terminal: false});
  rl.on("line", (line) => {
    try {
      handle(line);
    } catch (error) {
      emit("@error JSError " + String(error).replace(/\s+/g, " "));
      emit("@done");
    }
  });
  rl.on("close", () => {
    syncState();
    process.exit(0);
  });
}

main().catch((error) => {
  // One short line, not the minified WebAssembly glue that a raw stack trace would quote.
  process.stdout.write("@fatal " + String(error).replace(/\s+/g, " ").slice(0, 300) + "\n");
  process.exit(2);
});
