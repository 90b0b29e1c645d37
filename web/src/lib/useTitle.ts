import { useEffect } from "react";

/** Sets the document title, so tabs and screen readers name the page. */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · EventFlow`;
  }, [title]);
}
