import { useEffect, useRef, type RefObject } from "react";
import { useLocation } from "react-router";

/**
 * Moves the focus to target when the route changes (not on the first
 * page), so keyboard and screen-reader users start at the new page's
 * content instead of on <body> where a removed link left them.
 */
export function useFocusOnNavigate(target: RefObject<HTMLElement | null>): void {
  const { pathname } = useLocation();
  const shown = useRef(pathname);
  useEffect(() => {
    if (shown.current === pathname) return;
    shown.current = pathname;
    target.current?.focus();
  }, [pathname, target]);
}
