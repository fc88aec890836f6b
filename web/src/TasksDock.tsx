// The Recent tasks dock at the bottom of every page: collapsible to one bar (the panel stays
// mounted, so its live list keeps following the controller) and resizable by dragging or
// with the keyboard on its top edge (a `separator` with a value, as WAI-ARIA's window splitter
// pattern has it). On a 768-pixel-high laptop screen a fixed 40 % was too much for the page
// above it; the chosen height and state are kept for the next load.
import { Button } from "@patternfly/react-core";
import AngleDownIcon from "@patternfly/react-icons/dist/esm/icons/angle-down-icon";
import AngleUpIcon from "@patternfly/react-icons/dist/esm/icons/angle-up-icon";
import { useCallback, useEffect, useRef, useState, type KeyboardEvent, type PointerEvent } from "react";
import { TasksPanel } from "./tasks/TasksPanel.tsx";

const STORAGE_KEY = "ferry.tasksDock";
/** Below this the panel shows no row; above the share of the window the page has no room. */
export const DOCK_MIN_PX = 96;
const DOCK_MAX_SHARE = 0.7;
const DOCK_DEFAULT_SHARE = 0.28;
const KEY_STEP_PX = 24;

interface DockState {
  readonly collapsed: boolean;
  readonly height: number;
}

const maxHeight = (): number => Math.max(DOCK_MIN_PX, Math.round(window.innerHeight * DOCK_MAX_SHARE));
const clampHeight = (px: number): number => Math.min(maxHeight(), Math.max(DOCK_MIN_PX, Math.round(px)));

function loadState(): DockState {
  const fallback: DockState = { collapsed: false, height: clampHeight(window.innerHeight * DOCK_DEFAULT_SHARE) };
  try {
    const raw = window.localStorage.getItem(STORAGE_KEY);
    if (raw === null) return fallback;
    const parsed: unknown = JSON.parse(raw);
    if (typeof parsed !== "object" || parsed === null) return fallback;
    const { collapsed, height } = parsed as Partial<Record<keyof DockState, unknown>>;
    return { collapsed: collapsed === true, height: typeof height === "number" && Number.isFinite(height) ? clampHeight(height) : fallback.height };
  } catch {
    return fallback;
  }
}

export function TasksDock() {
  const [state, setState] = useState<DockState>(loadState);
  const drag = useRef<{ startY: number; startHeight: number } | null>(null);

  useEffect(() => {
    try {
      window.localStorage.setItem(STORAGE_KEY, JSON.stringify(state));
    } catch {
      // Storage refused (private mode, quota): the dock still works for this load.
    }
  }, [state]);

  const setHeight = useCallback((px: number) => {
    setState((s) => ({ ...s, height: clampHeight(px) }));
  }, []);

  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>): void => {
    const next = { ArrowUp: state.height + KEY_STEP_PX, ArrowDown: state.height - KEY_STEP_PX, Home: maxHeight(), End: DOCK_MIN_PX }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    setHeight(next);
  };
  const onPointerDown = (event: PointerEvent<HTMLDivElement>): void => {
    event.currentTarget.setPointerCapture(event.pointerId);
    drag.current = { startY: event.clientY, startHeight: state.height };
  };
  const onPointerMove = (event: PointerEvent<HTMLDivElement>): void => {
    if (drag.current === null) return;
    // Dragging the top edge up makes the dock taller.
    setHeight(drag.current.startHeight + drag.current.startY - event.clientY);
  };
  const endDrag = (): void => {
    drag.current = null;
  };
  const toggle = (): void => {
    setState((s) => ({ ...s, collapsed: !s.collapsed }));
  };

  return (
    <div className={state.collapsed ? "ferry-dock ferry-dock-collapsed" : "ferry-dock"} style={state.collapsed ? undefined : { height: `${String(state.height)}px` }}>
      {!state.collapsed && (
        <div
          className="ferry-dock-resize"
          role="separator"
          aria-orientation="horizontal"
          aria-label="Resize Recent tasks"
          aria-controls="ferry-dock-body"
          aria-valuemin={DOCK_MIN_PX}
          aria-valuemax={maxHeight()}
          aria-valuenow={state.height}
          aria-valuetext={`${String(state.height)} pixels high`}
          tabIndex={0}
          onKeyDown={onKeyDown}
          onPointerDown={onPointerDown}
          onPointerMove={onPointerMove}
          onPointerUp={endDrag}
          onPointerCancel={endDrag}
        />
      )}
      <Button
        className="ferry-dock-toggle"
        variant={state.collapsed ? "link" : "plain"}
        aria-expanded={!state.collapsed}
        aria-controls="ferry-dock-body"
        aria-label={state.collapsed ? "Show Recent tasks" : "Hide Recent tasks"}
        icon={state.collapsed ? <AngleUpIcon /> : <AngleDownIcon />}
        onClick={toggle}
      >
        {state.collapsed ? "Recent tasks" : null}
      </Button>
      <div id="ferry-dock-body" className="ferry-dock-body" hidden={state.collapsed}>
        <TasksPanel />
      </div>
    </div>
  );
}
