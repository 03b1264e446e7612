/* The explorer as a Streamlit component: Streamlit sends "render" messages with the arguments the
 * app passed (data, highlight, height); a click on a node is sent back as the component's value. */
(function () {
  "use strict";
  const root = document.getElementById("ri-root");
  let explorer = null;
  let shownKey = null;

  function send(type, payload) {
    window.parent.postMessage(Object.assign({ isStreamlitMessage: true, type }, payload), "*");
  }

  window.addEventListener("message", (event) => {
    const message = event.data;
    if (!message || message.type !== "streamlit:render") return;
    const args = message.args || {};
    const data = args.data;
    if (!data) return;
    if (data.key !== shownKey) {  // a rerun with the same network keeps the view as the user left it
      shownKey = data.key;
      explorer = RIExplorer.mount(root, data, {
        height: args.height,
        compact: Boolean(args.compact),
        onSelect: (value) => send("streamlit:setComponentValue", { value, dataType: "json" }),
      });
      send("streamlit:setFrameHeight", { height: args.height + 4 });
    }
    explorer.highlight(args.highlight || []);
  });

  send("streamlit:componentReady", { apiVersion: 1 });
})();
