/**
 * The embedded cluster's view engine: what the capi server of each node and the
 * cluster's bucket setup use.
 *
 * @since 0.1.0
 */
export {
  BEER_SAMPLE_BUCKET,
  installDesignDocuments,
  loadBeerSample,
  type SampleDataset,
  type SampleDesignDocument,
  type SampleDocument
} from "./beerSample.js"
export { handleViewRequest, MAX_REQUEST_BODY } from "./http.js"
export {
  closeViewEngine,
  DESIGN_PREFIX,
  ViewEngine,
  type ViewEngineOptions,
  type ViewQueryResponse,
  viewEngineFor
} from "./ViewEngine.js"
export { ViewHttpError } from "./ViewHttpError.js"
export type { ViewRequestContext, ViewSource, ViewSourceItem } from "./ViewSource.js"
