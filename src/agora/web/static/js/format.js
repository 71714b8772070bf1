// How numbers, times and states look on the page.

import { Dec } from "./decimal.js";

function group(text) {
  const [whole, fraction] = text.split(".");
  const negative = whole.startsWith("-");
  const digits = negative ? whole.slice(1) : whole;
  const grouped = digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return (negative ? "−" : "") + grouped + (fraction !== undefined ? "." + fraction : "");
}

// A decimal string or Dec as "1,234.56" (``digits`` after the point); "—" when missing.
export function amount(value, digits = 2) {
  const parsed = Dec.parse(value);
  return parsed === null ? "—" : group(parsed.toFixed(digits));
}

// Like ``amount`` with an explicit sign: "+12.30" / "−4.00".
export function signed(value, digits = 2) {
  const parsed = Dec.parse(value);
  if (parsed === null) return "—";
  const text = group(parsed.toFixed(digits));
  return parsed.round(digits).sign() > 0 ? "+" + text : text;
}

export function percent(fraction) {
  if (!Number.isFinite(fraction)) return "—";
  const text = Math.abs(fraction * 100).toFixed(2) + "%";
  if (fraction > 0.000049) return "+" + text;
  if (fraction < -0.000049) return "−" + text;
  return text;
}

// The direction class of a number: "up", "down" or "".
export function tone(value) {
  const parsed = typeof value === "number" ? value : Dec.parse(value)?.sign() ?? 0;
  return parsed > 0 ? "up" : parsed < 0 ? "down" : "";
}

// Digits after the point of an instrument's tick size ("0.0100" → 2).
export function tickDigits(tickSize) {
  const text = String(tickSize ?? "0.01").replace(/0+$/, "");
  const point = text.indexOf(".");
  return point < 0 ? 0 : text.length - point - 1;
}

// A quantity without trailing zeros ("10.000" → "10").
export function quantity(value) {
  if (value === null || value === undefined) return "—";
  const text = String(value);
  return text.includes(".") ? group(text.replace(/\.?0+$/, "")) : group(text);
}

export function clockTime(iso) {
  if (!iso) return "";
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return "";
  return when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}

export function title(text) {
  return String(text ?? "").replace(/_/g, " ");
}
