// The query picture with a button on every region, and a rubber band to draw a box of one's own.
import { el } from "./cards.js";

const DRAG_START_PX = 6; // pointer travel that turns a tap into a drag
const MIN_BOX_PX = 8; // smallest box worth searching, in image pixels

export class Stage {
  constructor({ onSelect, onDraw }) {
    this.root = document.getElementById("stage");
    this.img = document.getElementById("shot");
    this.overlay = document.getElementById("overlay");
    this.hint = document.getElementById("stage-hint");
    this.onSelect = onSelect;
    this.onDraw = onDraw;
    this.size = null; // [width, height] of the upright image, as the API reports it
    this.drag = null;
    this.overlay.addEventListener("pointerdown", (e) => this.down(e));
    this.overlay.addEventListener("pointermove", (e) => this.move(e));
    this.overlay.addEventListener("pointerup", (e) => this.up(e));
    this.overlay.addEventListener("pointercancel", () => this.cancel());
    this.overlay.addEventListener("click", (e) => this.click(e), true);
    document.addEventListener("keydown", (e) => e.key === "Escape" && this.cancel());
  }

  show(src) {
    this.img.src = src;
    this.size = null;
    this.overlay.replaceChildren();
    this.root.hidden = false;
    this.hint.hidden = true;
  }

  setRegions(regions, selected, [width, height]) {
    this.size = [width, height];
    const focused = this.overlay.contains(document.activeElement) ? document.activeElement.dataset.region : null;
    const pct = (v, total) => `${((100 * v) / total).toFixed(3)}%`;
    this.overlay.replaceChildren(
      ...regions.map((region, i) => {
        const [x1, y1, x2, y2] = region.box;
        const label = regionLabel(region, i);
        return el(
          "button",
          {
            type: "button",
            class: region.drawn ? "box drawn" : "box",
            "data-region": String(i),
            "data-box": region.box.map(Math.round).join(","),
            "aria-pressed": String(i === selected),
            "aria-label": `${label}: ${region.matches.length} matches`,
            style: `left:${pct(x1, width)};top:${pct(y1, height)};width:${pct(x2 - x1, width)};height:${pct(y2 - y1, height)}`,
          },
          el("span", { class: "tag", text: label }),
        );
      }),
    );
    // Keyboard users stay on the box they pressed, though every box button is new.
    if (focused !== null) this.overlay.querySelector(`[data-region="${focused}"]`)?.focus();
    this.hint.hidden = false;
  }

  toImage(e) {
    const rect = this.img.getBoundingClientRect();
    const [width, height] = this.size;
    const clamp = (v, hi) => Math.min(Math.max(v, 0), hi);
    return [
      clamp(((e.clientX - rect.left) / rect.width) * width, width),
      clamp(((e.clientY - rect.top) / rect.height) * height, height),
    ];
  }

  down(e) {
    if (!this.size || e.button !== 0) return;
    this.drag = { id: e.pointerId, x: e.clientX, y: e.clientY, start: this.toImage(e), band: null };
  }

  move(e) {
    const drag = this.drag;
    if (!drag || drag.id !== e.pointerId) return;
    if (!drag.band) {
      if (Math.hypot(e.clientX - drag.x, e.clientY - drag.y) < DRAG_START_PX) return;
      this.overlay.setPointerCapture(e.pointerId);
      drag.band = el("div", { class: "band", "aria-hidden": "true" });
      this.overlay.append(drag.band);
    }
    e.preventDefault();
    drag.box = box(drag.start, this.toImage(e));
    const [x1, y1, x2, y2] = drag.box;
    const [width, height] = this.size;
    Object.assign(drag.band.style, {
      left: `${(100 * x1) / width}%`,
      top: `${(100 * y1) / height}%`,
      width: `${(100 * (x2 - x1)) / width}%`,
      height: `${(100 * (y2 - y1)) / height}%`,
    });
  }

  up(e) {
    const drag = this.drag;
    if (!drag || drag.id !== e.pointerId || !drag.band) {
      this.drag = null;
      return;
    }
    this.cancel();
    this.suppressClick = true; // the click that ends a drag (if any comes) is not a tap on a box
    setTimeout(() => (this.suppressClick = false), 0);
    const [x1, y1, x2, y2] = drag.box || [0, 0, 0, 0];
    if (x2 - x1 >= MIN_BOX_PX && y2 - y1 >= MIN_BOX_PX) this.onDraw(drag.box.map(Math.round));
  }

  cancel() {
    if (this.drag?.band) this.drag.band.remove();
    this.drag = null;
  }

  click(e) {
    if (this.suppressClick) {
      this.suppressClick = false;
      e.stopPropagation();
      return;
    }
    const button = e.target.closest("button.box");
    if (button) this.onSelect(Number(button.dataset.region));
  }
}

export function regionLabel(region, i) {
  const what = region.drawn ? "your box" : region.category || "product";
  return `${i + 1} · ${what}`;
}

function box([ax, ay], [bx, by]) {
  return [Math.min(ax, bx), Math.min(ay, by), Math.max(ax, bx), Math.max(ay, by)];
}
