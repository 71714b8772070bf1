// Exact decimals for money and prices: the API sends decimal strings, so sums and P&L are done
// on BigInt units with a scale, never through binary floating point.

const PATTERN = /^([+-]?)(\d*)(?:\.(\d*))?$/;

export class Dec {
  constructor(units, scale) {
    this.units = units; // BigInt
    this.scale = scale; // digits after the point
  }

  static parse(text) {
    if (text instanceof Dec) return text;
    if (text === null || text === undefined) return null;
    const match = PATTERN.exec(String(text).trim());
    if (!match || (match[2] === "" && (match[3] ?? "") === "")) return null;
    const fraction = match[3] ?? "";
    const units = BigInt((match[2] || "0") + fraction);
    return new Dec(match[1] === "-" ? -units : units, fraction.length);
  }

  static zero() {
    return new Dec(0n, 0);
  }

  rescale(scale) {
    if (scale >= this.scale) return new Dec(this.units * 10n ** BigInt(scale - this.scale), scale);
    return this.round(scale);
  }

  add(other) {
    const scale = Math.max(this.scale, other.scale);
    return new Dec(this.rescale(scale).units + other.rescale(scale).units, scale);
  }

  sub(other) {
    return this.add(other.neg());
  }

  mul(other) {
    return new Dec(this.units * other.units, this.scale + other.scale);
  }

  neg() {
    return new Dec(-this.units, this.scale);
  }

  sign() {
    return this.units > 0n ? 1 : this.units < 0n ? -1 : 0;
  }

  cmp(other) {
    return this.sub(other).sign();
  }

  // Round half away from zero to ``scale`` digits.
  round(scale) {
    if (scale >= this.scale) return this.rescale(scale);
    const divisor = 10n ** BigInt(this.scale - scale);
    const negative = this.units < 0n;
    const magnitude = negative ? -this.units : this.units;
    let quotient = magnitude / divisor;
    if ((magnitude % divisor) * 2n >= divisor) quotient += 1n;
    return new Dec(negative ? -quotient : quotient, scale);
  }

  // ``this / other`` as a JavaScript number (for percentages only).
  ratio(other) {
    if (other.units === 0n) return 0;
    return Number(this.toFixed(8)) / Number(other.toFixed(8));
  }

  toFixed(digits) {
    const rounded = this.round(digits);
    const negative = rounded.units < 0n;
    const text = (negative ? -rounded.units : rounded.units).toString().padStart(digits + 1, "0");
    const whole = digits ? text.slice(0, -digits) : text;
    const fraction = digits ? "." + text.slice(-digits) : "";
    return (negative ? "-" : "") + whole + fraction;
  }
}
