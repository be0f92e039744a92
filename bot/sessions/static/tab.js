// The session tab in Teams: signs in through Teams (single sign-on), asks the app for the
// session in this meeting's chat, then follows it like the room display (live.js). The
// facilitator's buttons send the press with the version the page shows, as the card does.
"use strict";

(function () {
  const teams = window.microsoftTeams;

  async function post(path, body) {
    const token = await teams.authentication.getAuthToken();
    const response = await fetch(path, {
      method: "POST",
      cache: "no-store",
      headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const answer = await response.json().catch(() => ({}));
    return { ok: response.ok, answer: answer };
  }

  async function configure() {
    teams.pages.config.registerOnSaveHandler((saving) => {
      const base = window.location.origin;
      teams.pages.config
        .setConfig({ contentUrl: base + "/live/tab", entityId: "reflective-session", suggestedDisplayName: "Session" })
        .then(() => saving.notifySuccess());
    });
    teams.pages.config.setValidityState(true);
  }

  async function follow() {
    const context = await teams.app.getContext();
    const chat = context.chat ? context.chat.id : "";
    const opened = await post("/live/tab/session", { chat: chat });
    if (!opened.ok) {
      window.LivePage.stop(opened.answer.note || "This session cannot be shown here.");
      document.getElementById("stage-title").textContent = "Not available";
      return;
    }
    const control = async (name, state) => {
      const pressed = await post("/live/tab/control", {
        chat: chat, session: state.session, version: state.version, control: name,
      });
      return pressed.answer.note || "";
    };
    const options = { renew: follow }; // a member link lasts an hour: ask again then
    if (opened.answer.may_control) options.control = control;
    window.LivePage.start(opened.answer.events, options);
  }

  document.addEventListener("DOMContentLoaded", async () => {
    await teams.app.initialize();
    if (document.body.dataset.mode === "tab-config") await configure();
    else await follow();
  });
})();
