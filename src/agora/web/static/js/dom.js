// Small DOM helpers: elements are built with textContent only (data never becomes markup).

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

// el("td", {class: "num", title: "x"}, "text", child…)
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function setText(node, text, className) {
  if (!node) return;
  if (node.textContent !== text) node.textContent = text;
  if (className !== undefined) node.className = className;
}

// Briefly mark a cell as having moved up or down.
export function flash(node, direction) {
  if (!direction) return;
  node.classList.remove("flash-up", "flash-down");
  void node.offsetWidth; // restart the animation
  node.classList.add(direction === "up" ? "flash-up" : "flash-down");
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
