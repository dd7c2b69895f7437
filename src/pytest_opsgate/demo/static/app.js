// Behaviour of the opsgate demo pages. Loaded from /static because the CSP forbids inline script.
"use strict";

(function () {
  function label(item) {
    return item.name + " — " + Number(item.price).toFixed(2);
  }

  function appendItem(list, item) {
    const li = document.createElement("li");
    li.dataset.testid = "item";
    li.dataset.itemId = String(item.id);
    li.textContent = label(item);
    list.appendChild(li);
  }

  async function loadItems(list, status) {
    try {
      const response = await fetch("/api/public/items?limit=100", {
        headers: { Accept: "application/json" },
      });
      if (!response.ok) {
        status.textContent = "Could not load items (HTTP " + response.status + ")";
        status.dataset.state = "error";
        return;
      }
      const data = await response.json();
      list.replaceChildren();
      data.items.forEach(function (item) { appendItem(list, item); });
      status.textContent = data.count + " items";
      status.dataset.state = "loaded";
    } catch (error) {
      status.textContent = "Could not load items (" + error + ")";
      status.dataset.state = "error";
    } finally {
      list.setAttribute("aria-busy", "false");
    }
  }

  async function addItem(form, list, result) {
    const button = form.querySelector("button[type=submit]");
    const name = form.elements.namedItem("name").value;
    const price = Number(form.elements.namedItem("price").value);
    button.disabled = true;
    try {
      const response = await fetch("/api/public/items", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ name: name, price: price }),
      });
      const data = await response.json();
      if (response.status === 201) {
        appendItem(list, data);
        result.textContent = "Added " + data.name;
        result.dataset.state = "ok";
        form.reset();
      } else {
        result.textContent = "Could not add item (HTTP " + response.status + ")";
        result.dataset.state = "error";
      }
    } catch (error) {
      result.textContent = "Could not add item (" + error + ")";
      result.dataset.state = "error";
    } finally {
      button.disabled = false;
    }
  }

  function initHome() {
    const list = document.getElementById("items");
    const status = document.getElementById("status");
    const result = document.getElementById("result");
    const form = document.getElementById("add-item");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      addItem(form, list, result);
    });
    loadItems(list, status);
  }

  function initAccount() {
    const token = document.querySelector('meta[name="csrf-token"]').content;
    document.getElementById("logout").addEventListener("click", async function () {
      await fetch("/api/session/logout", { method: "POST", headers: { "X-CSRF-Token": token } });
      window.location.assign("/login");
    });
  }

  function start() {
    const page = document.body.dataset.page;
    if (page === "home") {
      initHome();
    } else if (page === "account") {
      initAccount();
    } else if (page === "console-error") {
      console.error("opsgate demo: deliberate console error for failure-artifact tests");
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
