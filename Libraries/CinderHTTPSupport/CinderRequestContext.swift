import CinderModel
import Hummingbird

/// Request context for every Cinder HTTP route. The organization is the tenant the request acts for;
/// with auth off it is the default organization (authentication middleware sets it once tenancy lands).
public struct CinderRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var organizationID: OrganizationID = .default
    /// Upload limit for buffered bodies; OTLP routes apply their own (configurable) limit.
    public var maxUploadSize: Int { 64 << 20 }

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }
}
