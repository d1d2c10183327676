/** What the server and the analysis process say to each other (worker.ts). */
export interface AnalysisDocument {
  /** The subject's key, with the language's extension: "s12.c". */
  path: string;
  text: string;
}

export interface AnalysisInput {
  /** A Dolos language name: c, python, java, javascript, ... */
  language: string;
  documents: AnalysisDocument[];
  /** The lecturer's starter code: its fingerprints never count as shared. */
  starter: AnalysisDocument | null;
  /** Share of the documents (0..1) above which a fingerprint is ignored. */
  maxShare: number;
  kgramLength: number;
  kgramsInWindow: number;
  /** How many of the most similar pairs are kept, and how many of them get their fragments. */
  maxPairs: number;
  fragmentsFor: number;
}

export interface Region {
  startRow: number;
  startCol: number;
  endRow: number;
  endCol: number;
}

export interface FragmentOut {
  left: Region;
  right: Region;
}

export interface PairOut {
  left: string;
  right: string;
  similarity: number;
  longest: number;
  overlap: number;
  fragments: FragmentOut[];
}

export interface AnalysisResult {
  language: string;
  pairs: PairOut[];
  totalPairs: number;
  warnings: string[];
}

export type AnalysisMessage =
  | { type: 'progress'; fraction: number; stage: string }
  | { type: 'done'; result: AnalysisResult; maxRssKb: number }
  | { type: 'failed'; message: string };
