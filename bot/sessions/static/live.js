// The session on a screen: draws the state the server streams (server-sent events) and a
// countdown from the stage's end time, corrected by this browser's offset from the server's
// clock, so every screen in the room shows the same time. Keeps nothing in the browser.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  let state = null;
  let offset = 0; // server time minus this browser's time, in milliseconds
  let source = null;
  let control = null; // the Teams tab's controls, when it has them

  function minutesAndSeconds(seconds) {
    const whole = Math.max(0, Math.ceil(seconds));
    const minutes = Math.floor(whole / 60);
    return minutes + ":" + String(whole % 60).padStart(2, "0");
  }

  function secondsLeft() {
    if (state.status === "running" && state.ends_at !== null) {
      return (state.ends_at - (Date.now() + offset)) / 1000;
    }
    return state.remaining;
  }

  function drawClock() {
    if (state === null) return;
    const left = secondsLeft();
    let mode = "normal";
    let note = "";
    if (state.status === "ready") {
      note = "The session has not begun yet";
    } else if (state.status === "paused") {
      mode = "paused";
      note = "Paused";
    } else if (state.status === "ended") {
      mode = "ended";
      note = "The session has ended";
    } else if (left <= 0) {
      mode = "up";
      note = "Time is up";
    } else if (left <= state.warning_seconds) {
      mode = "warning";
      note = "Nearly time";
    }
    $("clock").textContent = state.status === "ended" ? "Ended" : minutesAndSeconds(left);
    document.body.dataset.clock = mode;
    $("clock-state").textContent = note;
  }

  function fill(list, items, make) {
    list.replaceChildren(...items.map(make));
  }

  function item(text, className) {
    const li = document.createElement("li");
    li.textContent = text;
    if (className) li.className = className;
    return li;
  }

  function draw(next) {
    state = next;
    offset = state.server_now - Date.now();
    $("session-name").textContent = state.name + " · " + state.reference;
    $("position").textContent = state.stage.position;
    $("stage-title").textContent = state.status === "ended" ? "The session has ended" : state.stage.title;
    $("speaks").textContent = "Speaking: " + state.stage.speaks;
    $("listens").textContent = state.stage.listens ? " · Listening: " + state.stage.listens : "";
    fill($("plan"), state.steps, (step, index) => {
      const where = index < state.step ? "done" : index === state.step ? "current" : "todo";
      const li = item(step.title + " (" + step.minutes + " min)", where);
      if (where === "current") li.setAttribute("aria-current", "step");
      return li;
    });
    fill($("question-list"), state.questions, (question) => item(question));
    const holders = state.holders || [];
    $("holders").hidden = holders.length === 0;
    fill($("holder-list"), holders, (held) => item(held.role + ": " + held.names.join(", ")));
    const controls = $("controls");
    controls.hidden = !(control && state.live); // the tab's controls, for a session under way
    controls.querySelector('[data-control="pause"]').hidden = state.status !== "running";
    controls.querySelector('[data-control="resume"]').hidden = state.status !== "paused";
    controls.querySelector('[data-control="back"]').hidden = state.step === 0;
    drawClock();
    if (state.status === "ended") stop("The session has ended.");
  }

  function stop(why) {
    if (source !== null) source.close();
    source = null;
    $("connection").textContent = why;
    document.body.dataset.connection = "stopped";
  }

  function start(url, options) {
    control = (options && options.control) || null;
    source = new EventSource(url);
    source.onopen = () => {
      $("connection").textContent = "";
      document.body.dataset.connection = "open";
    };
    source.onmessage = (event) => draw(JSON.parse(event.data));
    source.addEventListener("expired", () => {
      // The tab signs in again for a fresh link; a room display's link is simply over.
      if (options && options.renew) {
        stop("");
        options.renew();
      } else {
        stop("This link has expired: ask the facilitator for a new one.");
      }
    });
    source.onerror = () => {
      if (source !== null && source.readyState === EventSource.CLOSED) {
        stop("This display has stopped: the link no longer works.");
      } else {
        $("connection").textContent = "Reconnecting…";
        document.body.dataset.connection = "reconnecting";
      }
    };
  }

  function pressed(event) {
    const button = event.target.closest("button[data-control]");
    if (!button || !control || state === null) return;
    const name = button.dataset.control;
    if (name === "end" && !window.confirm("End the session for everyone? It cannot be started again.")) return;
    $("control-note").textContent = "";
    control(name, state).then((note) => {
      $("control-note").textContent = note || "";
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("show-questions").addEventListener("click", () => {
      const shown = $("questions").hidden;
      $("questions").hidden = !shown;
      $("show-questions").setAttribute("aria-expanded", String(shown));
    });
    $("controls").addEventListener("click", pressed);
    window.setInterval(drawClock, 250);
    if (document.body.dataset.mode === "link") start(window.location.pathname + "/events");
  });

  window.LivePage = { start: start, stop: stop };
})();
