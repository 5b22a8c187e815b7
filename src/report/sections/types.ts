/** A section of the HTML report: an anchor id, a heading and its (already escaped) HTML body. */
export interface Section {
  readonly id: string;
  readonly title: string;
  readonly html: string;
}
