import Graphiti
import GraphQL

/// Cinder's GraphQL schema: the part of Phoenix's schema Cinder serves, with Phoenix's type and
/// field names, so that tools written against Phoenix's GraphQL API work unchanged.
enum CinderSchema {
    typealias Builder = SchemaBuilder<QueryRoot, GraphQLContext>

    static func build() throws -> Schema<QueryRoot, GraphQLContext> {
        let builder = Builder(QueryRoot.self, GraphQLContext.self)
        addScalarsAndEnums(builder)
        addTracing(builder)
        addTimeSeries(builder)
        addDatasets(builder)
        addExperiments(builder)
        addExperimentJobs(builder)
        addPlayground(builder)
        addModelPrices(builder)
        addEvaluators(builder)
        addCodeEvaluators(builder)
        addOnlineEvaluation(builder)
        addCustomProviderConfigs(builder)
        addCustomProviders(builder)
        addPrompts(builder)
        addAccess(builder)
        builder.addQuery {
            Field("node", at: QueryRoot.node) { Argument("id", at: \.id) }
            Field("projects", at: QueryRoot.projects) {
                    Argument("first", at: \.first).defaultValue(50)
                    Argument("after", at: \.after)
                }
            Field("datasets", at: QueryRoot.datasets) {
                    Argument("first", at: \.first).defaultValue(50)
                    Argument("after", at: \.after)
                }
            Field("prompts", at: QueryRoot.prompts) {
                    Argument("first", at: \.first).defaultValue(50)
                    Argument("after", at: \.after)
                }
            Field("getProjectByName", at: QueryRoot.getProjectByName) { Argument("name", at: \.name) }
            Field("getSpanByOtelId", at: QueryRoot.getSpanByOtelId) { Argument("spanId", at: \.spanId) }
            Field("getTraceByOtelId", at: QueryRoot.getTraceByOtelId) { Argument("traceId", at: \.traceId) }
            Field("getProjectSessionById", at: QueryRoot.getProjectSessionById) { Argument("sessionId", at: \.sessionId) }
            Field("projectCount", at: QueryRoot.projectCount)
            Field("datasetCount", at: QueryRoot.datasetCount)
            Field("promptCount", at: QueryRoot.promptCount)
            Field("viewer", at: QueryRoot.viewer)
            Field("users", at: QueryRoot.users) {
                Argument("first", at: \.first).defaultValue(50)
                Argument("last", at: \.last)
                Argument("after", at: \.after)
                Argument("before", at: \.before)
            }
            Field("userRoles", at: QueryRoot.userRoles)
            Field("generativeModels", at: QueryRoot.generativeModels) {
                Argument("first", at: \.first).defaultValue(50)
                Argument("after", at: \.after)
            }
            Field("generativeModelCustomProviders", at: QueryRoot.generativeModelCustomProviders) {
                Argument("first", at: \.first).defaultValue(50)
                Argument("after", at: \.after)
            }
            Field("userApiKeys", at: QueryRoot.userApiKeys)
            Field("systemApiKeys", at: QueryRoot.systemApiKeys)
            Field("builtInEvaluators", at: QueryRoot.builtInEvaluators)
            Field("classificationEvaluatorConfigs", at: QueryRoot.classificationEvaluatorConfigs) { Argument("labels", at: \.labels) }
            Field("evaluators", at: QueryRoot.evaluators) {
                Argument("first", at: \.first).defaultValue(50)
                Argument("after", at: \.after)
            }
        }
        builder.addMutation {
            Field("createSystemApiKey", at: QueryRoot.createSystemApiKey) { Argument("input", at: \.input) }
            Field("createUserApiKey", at: QueryRoot.createUserApiKey) { Argument("input", at: \.input) }
            Field("deleteSystemApiKey", at: QueryRoot.deleteSystemApiKey) { Argument("input", at: \.input) }
            Field("deleteUserApiKey", at: QueryRoot.deleteUserApiKey) { Argument("input", at: \.input) }
            Field("createUser", at: QueryRoot.createUser) { Argument("input", at: \.input) }
            Field("patchUser", at: QueryRoot.patchUser) { Argument("input", at: \.input) }
            Field("patchViewer", at: QueryRoot.patchViewer) { Argument("input", at: \.input) }
            Field("deleteUsers", at: QueryRoot.deleteUsers) { Argument("input", at: \.input) }
            Field("stopExperiment", at: QueryRoot.stopExperiment) { Argument("experimentId", at: \.experimentId) }
            Field("resumeExperiment", at: QueryRoot.resumeExperiment) {
                Argument("experimentId", at: \.experimentId)
                Argument("credentials", at: \.credentials)
            }
            Field("createModel", at: QueryRoot.createModel) { Argument("input", at: \.input) }
            Field("updateModel", at: QueryRoot.updateModel) { Argument("input", at: \.input) }
            Field("deleteModel", at: QueryRoot.deleteModel) { Argument("input", at: \.input) }
            Field("createGenerativeModelCustomProvider", at: QueryRoot.createGenerativeModelCustomProvider) { Argument("input", at: \.input) }
            Field("patchGenerativeModelCustomProvider", at: QueryRoot.patchGenerativeModelCustomProvider) { Argument("input", at: \.input) }
            Field("deleteGenerativeModelCustomProvider", at: QueryRoot.deleteGenerativeModelCustomProvider) { Argument("input", at: \.input) }
            Field("testGenerativeModelCustomProviderCredentials", at: QueryRoot.testGenerativeModelCustomProviderCredentials) {
                Argument("input", at: \.input)
            }
            Field("createDatasetBuiltinEvaluator", at: QueryRoot.createDatasetBuiltinEvaluator) { Argument("input", at: \.input) }
            Field("updateDatasetBuiltinEvaluator", at: QueryRoot.updateDatasetBuiltinEvaluator) { Argument("input", at: \.input) }
            Field("createDatasetLlmEvaluator", at: QueryRoot.createDatasetLlmEvaluator) { Argument("input", at: \.input) }
            Field("updateDatasetLlmEvaluator", at: QueryRoot.updateDatasetLlmEvaluator) { Argument("input", at: \.input) }
            Field("deleteDatasetEvaluators", at: QueryRoot.deleteDatasetEvaluators) { Argument("input", at: \.input) }
            Field("evaluatorPreviews", at: QueryRoot.evaluatorPreviews) { Argument("input", at: \.input) }
            Field("createCodeEvaluator", at: QueryRoot.createCodeEvaluator) { Argument("input", at: \.input) }
            Field("patchCodeEvaluator", at: QueryRoot.patchCodeEvaluator) { Argument("input", at: \.input) }
            Field("createCodeEvaluatorVersion", at: QueryRoot.createCodeEvaluatorVersion) { Argument("input", at: \.input) }
            Field("createDatasetCodeEvaluator", at: QueryRoot.createDatasetCodeEvaluator) { Argument("input", at: \.input) }
            Field("updateDatasetCodeEvaluator", at: QueryRoot.updateDatasetCodeEvaluator) { Argument("input", at: \.input) }
            Field("evaluateExperiment", at: QueryRoot.evaluateExperiment) { Argument("input", at: \.input) }
            Field("createOnlineEvaluationRule", at: QueryRoot.createOnlineEvaluationRule) { Argument("input", at: \.input) }
            Field("updateOnlineEvaluationRule", at: QueryRoot.updateOnlineEvaluationRule) { Argument("input", at: \.input) }
            Field("deleteOnlineEvaluationRule", at: QueryRoot.deleteOnlineEvaluationRule) { Argument("input", at: \.input) }
            Field("backfillOnlineEvaluationRule", at: QueryRoot.backfillOnlineEvaluationRule) { Argument("input", at: \.input) }
        }
        return try builder.build()
    }

    /// People and API keys, with Phoenix's names.
    static func addAccess(_ builder: Builder) {
        builder.add {
            Enum(AuthMethodValue.self, as: "AuthMethod") {
                Value(.LOCAL)
                Value(.OAUTH2)
                Value(.LDAP)
            }
            Enum(UserRoleInputValue.self, as: "UserRoleInput") {
                Value(.ADMIN)
                Value(.MEMBER)
                Value(.VIEWER)
            }
            Type(UserRoleNode.self, as: "UserRole", interfaces: [(any RelayNode).self]) {
                Field("id", at: \.id)
                Field("name", at: \.name)
            }
            Interface((any APIKeyFields).self, as: "ApiKey") {
                Field("name", at: \.name)
                Field("description", at: \.description)
                Field("createdAt", at: \.createdAt)
                Field("expiresAt", at: \.expiresAt)
            }
            Type(UserNode.self, as: "User", interfaces: [(any RelayNode).self]) {
                Field("id", at: \.id)
                Field("passwordNeedsReset", at: \.passwordNeedsReset)
                Field("email", at: \.email)
                Field("username", at: \.username)
                Field("profilePictureUrl", at: \.profilePictureUrl)
                Field("createdAt", at: \.createdAt)
                Field("authMethod", at: \.authMethod)
                Field("role", at: \.role)
                Field("apiKeys", at: UserNode.apiKeys)
                Field("apiKeyCount", at: UserNode.apiKeyCount)
                Field("oauth2GrantCount", at: \.oauth2GrantCount)
                Field("isManagementUser", at: \.isManagementUser)
            }
            Type(UserAPIKeyNode.self, as: "UserApiKey", interfaces: [(any APIKeyFields).self, (any RelayNode).self]) {
                Field("name", at: \.name)
                Field("description", at: \.description)
                Field("createdAt", at: \.createdAt)
                Field("expiresAt", at: \.expiresAt)
                Field("id", at: \.id)
                Field("user", at: \.user)
            }
            Type(SystemAPIKeyNode.self, as: "SystemApiKey", interfaces: [(any APIKeyFields).self, (any RelayNode).self]) {
                Field("name", at: \.name)
                Field("description", at: \.description)
                Field("createdAt", at: \.createdAt)
                Field("expiresAt", at: \.expiresAt)
                Field("id", at: \.id)
            }
            Input(CreateAPIKeyInput.self, as: "CreateApiKeyInput") {
                InputField("name", at: \.name)
                InputField("description", at: \.description)
                InputField("expiresAt", at: \.expiresAt)
            }
            Input(CreateUserAPIKeyInput.self, as: "CreateUserApiKeyInput") {
                InputField("name", at: \.name)
                InputField("description", at: \.description)
                InputField("expiresAt", at: \.expiresAt)
            }
            Input(DeleteAPIKeyInput.self, as: "DeleteApiKeyInput") {
                InputField("id", at: \.id)
            }
            Input(CreateUserInput.self, as: "CreateUserInput") {
                InputField("email", at: \.email)
                InputField("username", at: \.username)
                InputField("password", at: \.password)
                InputField("role", at: \.role)
                InputField("sendWelcomeEmail", at: \.sendWelcomeEmail).defaultValue(false)
                InputField("authMethod", at: \.authMethod).defaultValue(.LOCAL)
            }
            Input(PatchUserInput.self, as: "PatchUserInput") {
                InputField("userId", at: \.userId)
                InputField("newRole", at: \.newRole)
                InputField("newUsername", at: \.newUsername)
                InputField("newPassword", at: \.newPassword)
            }
            Input(PatchViewerInput.self, as: "PatchViewerInput") {
                InputField("newUsername", at: \.newUsername)
                InputField("newPassword", at: \.newPassword)
                InputField("currentPassword", at: \.currentPassword)
            }
            Input(DeleteUsersInput.self, as: "DeleteUsersInput") {
                InputField("userIds", at: \.userIds)
            }
            Type(CreateUserAPIKeyPayload.self, as: "CreateUserApiKeyMutationPayload") {
                Field("jwt", at: \.jwt)
                Field("apiKey", at: \.apiKey)
            }
            Type(CreateSystemAPIKeyPayload.self, as: "CreateSystemApiKeyMutationPayload") {
                Field("jwt", at: \.jwt)
                Field("apiKey", at: \.apiKey)
            }
            Type(DeleteAPIKeyPayload.self, as: "DeleteApiKeyMutationPayload") {
                Field("apiKeyId", at: \.apiKeyId)
            }
            Type(UserMutationPayload.self, as: "UserMutationPayload") {
                Field("user", at: \.user)
            }
            Type(DeleteUsersPayload.self, as: "DeleteUsersPayload") {
                Field("userIds", at: \.userIds)
            }
        }
        addConnection(builder, UserNode.self, "User")
    }

    /// `<Name>Connection` and `<Name>Edge` for a node type.
    static func addConnection<Node: Sendable>(_ builder: Builder, _ node: Node.Type, _ name: String) {
        builder.add {
            Type(NodeEdge<Node>.self, as: "\(name)Edge") {
                Field("node", at: \.node)
                Field("cursor", at: \.cursor)
            }
            Type(NodeConnection<Node>.self, as: "\(name)Connection") {
                Field("edges", at: \.edges)
                Field("pageInfo", at: \.pageInfo)
            }
        }
    }

    static func addScalarsAndEnums(_ builder: Builder) {
        builder.add {
            Scalar(NodeID.self, as: "ID")
            Scalar(DateTime.self, as: "DateTime")
            Scalar(JSONScalar.self, as: "JSON")
            Scalar(Identifier.self, as: "Identifier")
            Enum(SpanKindValue.self, as: "SpanKind") {
                Value(.chain)
                Value(.tool)
                Value(.llm)
                Value(.prompt)
                Value(.retriever)
                Value(.embedding)
                Value(.agent)
                Value(.reranker)
                Value(.evaluator)
                Value(.guardrail)
                Value(.decision)
                Value(.unknown)
            }
            Enum(SpanStatusCodeValue.self, as: "SpanStatusCode") {
                Value(.OK)
                Value(.ERROR)
                Value(.UNSET)
            }
            Enum(MimeTypeValue.self, as: "MimeType") {
                Value(.text)
                Value(.json)
            }
            Enum(AnnotatorKindValue.self, as: "AnnotatorKind") {
                Value(.LLM)
                Value(.HUMAN)
                Value(.CODE)
            }
            Enum(AnnotationSourceValue.self, as: "AnnotationSource") {
                Value(.API)
                Value(.APP)
            }
            Enum(SortDirValue.self, as: "SortDir") {
                Value(.asc)
                Value(.desc)
            }
            Enum(SpanColumnValue.self, as: "SpanColumn") {
                Value(.startTime)
                Value(.endTime)
                Value(.latencyMs)
                Value(.tokenCountTotal)
                Value(.tokenCountPrompt)
                Value(.tokenCountCompletion)
                Value(.cumulativeTokenCountTotal)
                Value(.cumulativeTokenCountPrompt)
                Value(.cumulativeTokenCountCompletion)
                Value(.cumulativeTokenCostTotal)
                Value(.tokenCostTotal)
            }
            Enum(RevisionKindValue.self, as: "RevisionKind") {
                Value(.CREATE)
                Value(.PATCH)
                Value(.DELETE)
            }
            Enum(PromptTemplateTypeValue.self, as: "PromptTemplateType") {
                Value(.STRING)
                Value(.CHAT)
            }
            Enum(PromptTemplateFormatValue.self, as: "PromptTemplateFormat") {
                Value(.MUSTACHE)
                Value(.F_STRING)
                Value(.NONE)
            }
            Input(TimeRange.self, as: "TimeRange") {
                InputField("start", at: \.start)
                InputField("end", at: \.end)
            }
            Enum(ProjectSessionColumnValue.self, as: "ProjectSessionColumn") {
                Value(.startTime)
                Value(.endTime)
                Value(.tokenCountTotal)
                Value(.numTraces)
                Value(.costTotal)
            }
            Enum(ProjectSessionAnnoAttrValue.self, as: "ProjectSessionAnnoAttr") {
                Value(.score)
                Value(.label)
            }
            Input(ProjectSessionAnnoResultKeyInput.self, as: "ProjectSessionAnnoResultKey") {
                InputField("name", at: \.name)
                InputField("attr", at: \.attr)
            }
            Input(ProjectSessionSortInput.self, as: "ProjectSessionSort") {
                InputField("col", at: \.col)
                InputField("annoResultKey", at: \.annoResultKey)
                InputField("dir", at: \.dir)
            }
            Input(SpanSortInput.self, as: "SpanSort") {
                InputField("col", at: \.col)
                InputField("dir", at: \.dir)
            }
            Interface((any RelayNode).self, as: "Node") {
                Field("id", at: \.id)
            }
            Type(PageInfo.self, as: "PageInfo") {
                Field("hasNextPage", at: \.hasNextPage)
                Field("hasPreviousPage", at: \.hasPreviousPage)
                Field("startCursor", at: \.startCursor)
                Field("endCursor", at: \.endCursor)
            }
        }
    }

    static func addTracing(_ builder: Builder) {
        builder.add {
            Type(ProjectNode.self, as: "Project", interfaces: [(any RelayNode).self]) {
                Field("id", at: \.id)
                Field("onlineEvaluationRules", at: ProjectNode.onlineEvaluationRules)
                Field("name", at: \.name)
                Field("description", at: \.description)
                Field("gradientStartColor", at: \.gradientStartColor)
                Field("gradientEndColor", at: \.gradientEndColor)
                Field("createdAt", at: \.createdAt)
                Field("updatedAt", at: \.updatedAt)
                Field("startTime", at: ProjectNode.startTime)
                Field("endTime", at: ProjectNode.endTime)
                Field("hasTraces", at: ProjectNode.hasTraces)
                Field("recordCount", at: ProjectNode.recordCount) { Argument("timeRange", at: \.timeRange) }
                Field("traceCount", at: ProjectNode.traceCount) { Argument("timeRange", at: \.timeRange) }
                Field("tokenCountTotal", at: ProjectNode.tokenCountTotal) { Argument("timeRange", at: \.timeRange) }
                Field("tokenCountPrompt", at: ProjectNode.tokenCountPrompt) { Argument("timeRange", at: \.timeRange) }
                Field("tokenCountCompletion", at: ProjectNode.tokenCountCompletion) { Argument("timeRange", at: \.timeRange) }
                Field("costSummary", at: ProjectNode.costSummary) { Argument("timeRange", at: \.timeRange) }
                Field("latencyMsQuantile", at: ProjectNode.latencyMsQuantile) {
                    Argument("probability", at: \.probability)
                    Argument("timeRange", at: \.timeRange)
                }
                Field("spanLatencyMsQuantile", at: ProjectNode.spanLatencyMsQuantile) {
                    Argument("probability", at: \.probability)
                    Argument("timeRange", at: \.timeRange)
                }
                Field("trace", at: ProjectNode.trace) { Argument("traceId", at: \.traceId) }
                Field("spans", at: ProjectNode.spans) {
                    Argument("first", at: \.first)
                    Argument("after", at: \.after)
                    Argument("timeRange", at: \.timeRange)
                    Argument("sort", at: \.sort)
                    Argument("filterCondition", at: \.filterCondition)
                }
                Field("validateSpanFilterCondition", at: ProjectNode.validateSpanFilterCondition) {
                    Argument("condition", at: \.condition)
                }
                Field("analyzeSpanFilterCondition", at: ProjectNode.analyzeSpanFilterCondition) {
                    Argument("condition", at: \.condition)
                }
                Field("spanFilterVocabulary", at: ProjectNode.spanFilterVocabulary) { Argument("timeRange", at: \.timeRange) }
                Field("traces", at: ProjectNode.traces) {
                    Argument("first", at: \.first)
                    Argument("after", at: \.after)
                    Argument("timeRange", at: \.timeRange)
                    Argument("sort", at: \.sort)
                    Argument("filterCondition", at: \.filterCondition)
                }
                Field("sessions", at: ProjectNode.sessions) {
                    Argument("first", at: \.first)
                    Argument("after", at: \.after)
                    Argument("timeRange", at: \.timeRange)
                    Argument("sort", at: \.sort)
                    Argument("sessionFilterCondition", at: \.sessionFilterCondition)
                }
                Field("sessionCount", at: ProjectNode.sessionCount) {
                    Argument("timeRange", at: \.timeRange)
                    Argument("sessionFilterCondition", at: \.sessionFilterCondition)
                }
                Field("validateSessionFilterCondition", at: ProjectNode.validateSessionFilterCondition) {
                    Argument("condition", at: \.condition)
                }
                Field("sessionFilterVocabulary", at: ProjectNode.sessionFilterVocabulary)
                Field("spanCountTimeSeries", at: ProjectNode.spanCountTimeSeries) {
                    Argument("timeRange", at: \.timeRange)
                    Argument("timeBinConfig", at: \.timeBinConfig)
                    Argument("filterCondition", at: \.filterCondition)
                }
                Field("traceCountTimeSeries", at: ProjectNode.traceCountTimeSeries) {
                    Argument("timeRange", at: \.timeRange)
                    Argument("timeBinConfig", at: \.timeBinConfig)
                }
                Field("traceCountByStatusTimeSeries", at: ProjectNode.traceCountByStatusTimeSeries) {
                    Argument("timeRange", at: \.timeRange)
                    Argument("timeBinConfig", at: \.timeBinConfig)
                }
                Field("traceLatencyMsPercentileTimeSeries", at: ProjectNode.traceLatencyMsPercentileTimeSeries) {
                    Argument("timeRange", at: \.timeRange)
                    Argument("timeBinConfig", at: \.timeBinConfig)
                }
                Field("traceTokenCountTimeSeries", at: ProjectNode.traceTokenCountTimeSeries) {
                    Argument("timeRange", at: \.timeRange)
                    Argument("timeBinConfig", at: \.timeBinConfig)
                }
                Field("traceTokenCostTimeSeries", at: ProjectNode.traceTokenCostTimeSeries) {
                    Argument("timeRange", at: \.timeRange)
                    Argument("timeBinConfig", at: \.timeBinConfig)
                }
                Field("spanAnnotationScoreTimeSeries", at: ProjectNode.spanAnnotationScoreTimeSeries) {
                    Argument("timeRange", at: \.timeRange)
                    Argument("timeBinConfig", at: \.timeBinConfig)
                }
                Field("spanAnnotationSummary", at: ProjectNode.spanAnnotationSummary) {
                    Argument("annotationName", at: \.annotationName)
                    Argument("timeRange", at: \.timeRange)
                    Argument("filterCondition", at: \.filterCondition)
                }
                Field("traceAnnotationSummary", at: ProjectNode.traceAnnotationSummary) {
                    Argument("annotationName", at: \.annotationName)
                    Argument("timeRange", at: \.timeRange)
                    Argument("filterCondition", at: \.filterCondition)
                }
                Field("spanAnnotationNames", at: ProjectNode.spanAnnotationNames)
                Field("traceAnnotationNames", at: ProjectNode.traceAnnotationNames)
                Field("sessionAnnotationNames", at: ProjectNode.sessionAnnotationNames)
            }
            Type(TraceNode.self, as: "Trace", interfaces: [(any RelayNode).self]) {
                Field("id", at: \.id)
                Field("traceId", at: \.traceId)
                Field("startTime", at: \.startTime)
                Field("endTime", at: \.endTime)
                Field("latencyMs", at: \.latencyMs)
                Field("project", at: TraceNode.project)
                Field("projectId", at: \.projectId)
                Field("projectSessionId", at: \.projectSessionId)
                Field("session", at: TraceNode.session)
                Field("rootSpan", at: TraceNode.rootSpan)
                Field("numSpans", at: TraceNode.numSpans)
                Field("costSummary", at: TraceNode.costSummary)
                Field("spans", at: TraceNode.spans) {
                    Argument("first", at: \.first)
                    Argument("after", at: \.after)
                }
                Field("traceAnnotations", at: TraceNode.traceAnnotations)
            }
            Type(LabelFractionValue.self, as: "LabelFraction") {
                Field("label", at: \.label)
                Field("fraction", at: \.fraction)
            }
            Type(AnnotationSummaryValue.self, as: "AnnotationSummary") {
                Field("name", at: \.name)
                Field("count", at: \.count)
                Field("labels", at: \.labels)
                Field("labelFractions", at: \.labelFractions)
                Field("meanScore", at: \.meanScore)
                Field("scoreCount", at: \.scoreCount)
                Field("labelCount", at: \.labelCount)
            }
            Type(SpanFilterConditionAnalysisValue.self, as: "SpanFilterConditionAnalysis") {
                Field("selectsRootSpansOnly", at: \.selectsRootSpansOnly)
            }
            Type(FilterVocabularyTermValue.self, as: "FilterVocabularyTerm") {
                Field("name", at: \.name)
                Field("type", at: \.type)
                Field("description", at: \.description)
                Field("category", at: \.category)
                Field("iterableName", at: \.iterableName)
                Field("values", at: \.values)
            }
            Type(ValidationResultValue.self, as: "ValidationResult") {
                Field("isValid", at: \.isValid)
                Field("errorMessage", at: \.errorMessage)
                Field("warnings", at: \.warnings)
            }
            Type(SpanContextValue.self, as: "SpanContext") {
                Field("traceId", at: \.traceId)
                Field("spanId", at: \.spanId)
            }
            Type(SpanIOValue.self, as: "SpanIOValue") {
                Field("mimeType", at: \.mimeType)
                Field("value", at: \.value)
                Field("truncatedValue", at: \.truncatedValue)
            }
            Type(SpanEventValue.self, as: "SpanEvent") {
                Field("name", at: \.name)
                Field("message", at: \.message)
                Field("timestamp", at: \.timestamp)
                Field("attributes", at: \.attributes)
            }
            Type(TokenUsageValue.self, as: "TokenUsage") {
                Field("prompt", at: \.prompt)
                Field("completion", at: \.completion)
                Field("total", at: \.total)
            }
            Type(CostBreakdownValue.self, as: "CostBreakdown") {
                Field("tokens", at: \.tokens)
                Field("cost", at: \.cost)
            }
            Type(SpanCostSummaryValue.self, as: "SpanCostSummary") {
                Field("prompt", at: \.prompt)
                Field("completion", at: \.completion)
                Field("total", at: \.total)
            }
            Type(SpanNode.self, as: "Span", interfaces: [(any RelayNode).self]) {
                Field("id", at: \.id)
                Field("spanId", at: \.spanId)
                Field("name", at: \.name)
                Field("statusCode", at: \.statusCode)
                Field("statusMessage", at: \.statusMessage)
                Field("startTime", at: \.startTime)
                Field("endTime", at: \.endTime)
                Field("latencyMs", at: \.latencyMs)
                Field("parentId", at: \.parentId)
                Field("spanKind", at: \.spanKind)
                Field("context", at: \.context)
                Field("attributes", at: \.attributes)
                Field("metadata", at: \.metadata)
                Field("numDocuments", at: \.numDocuments)
                Field("tokenCountTotal", at: \.tokenCountTotal)
                Field("tokenCountPrompt", at: \.tokenCountPrompt)
                Field("tokenCountCompletion", at: \.tokenCountCompletion)
                Field("costSummary", at: \.costSummary)
                Field("input", at: \.input)
                Field("output", at: \.output)
                Field("events", at: \.events)
                Field("trace", at: SpanNode.trace)
                Field("project", at: SpanNode.project)
                Field("spanAnnotations", at: SpanNode.spanAnnotations)
                Field("spanNotes", at: SpanNode.spanNotes)
                Field("numChildSpans", at: SpanNode.numChildSpans)
                Field("descendants", at: SpanNode.descendants) {
                    Argument("maxDepth", at: \.maxDepth).defaultValue(3)
                    Argument("first", at: \.first).defaultValue(50)
                    Argument("after", at: \.after)
                }
            }
            Type(SessionNode.self, as: "ProjectSession", interfaces: [(any RelayNode).self]) {
                Field("id", at: \.id)
                Field("sessionId", at: \.sessionId)
                Field("startTime", at: \.startTime)
                Field("endTime", at: \.endTime)
                Field("project", at: SessionNode.project)
                Field("numTraces", at: \.numTraces)
                Field("tokenUsage", at: \.tokenUsage)
                Field("costSummary", at: \.costSummary)
                Field("traces", at: SessionNode.traces) {
                    Argument("first", at: \.first)
                    Argument("after", at: \.after)
                }
                Field("firstInput", at: SessionNode.firstInput)
                Field("lastOutput", at: SessionNode.lastOutput)
                Field("sessionAnnotations", at: SessionNode.sessionAnnotations)
            }
            annotationType(
                AnnotatedSpan.self, "SpanAnnotation",
                [Field("spanId", at: \.spanId), Field("span", at: AnnotationNode<AnnotatedSpan>.span)])
            annotationType(
                AnnotatedTrace.self, "TraceAnnotation",
                [Field("traceId", at: \.traceId), Field("trace", at: AnnotationNode<AnnotatedTrace>.trace)])
            annotationType(AnnotatedSession.self, "ProjectSessionAnnotation", [Field("projectSessionId", at: \.projectSessionId)])
        }
        addConnection(builder, ProjectNode.self, "Project")
        addConnection(builder, TraceNode.self, "Trace")
        addConnection(builder, SpanNode.self, "Span")
        addConnection(builder, SessionNode.self, "ProjectSession")
    }

    /// An annotation type: the fields every annotation has, and the entity's.
    static func annotationType<Entity: AnnotatedEntity>(
        _: Entity.Type, _ name: String, _ entityFields: [FieldComponent<AnnotationNode<Entity>, GraphQLContext>]
    ) -> Graphiti.`Type`<QueryRoot, GraphQLContext, AnnotationNode<Entity>> {
        let common: [FieldComponent<AnnotationNode<Entity>, GraphQLContext>] = [
            Field("id", at: \.id),
            Field("name", at: \.name),
            Field("annotatorKind", at: \.annotatorKind),
            Field("label", at: \.label),
            Field("score", at: \.score),
            Field("explanation", at: \.explanation),
            Field("metadata", at: \.metadata),
            Field("source", at: \.source),
            Field("identifier", at: \.identifier),
            Field("createdAt", at: \.createdAt),
            Field("updatedAt", at: \.updatedAt),
        ]
        return Graphiti.`Type`(
            resolver: QueryRoot.self, context: GraphQLContext.self, AnnotationNode<Entity>.self, as: name,
            interfaces: [(any RelayNode).self], fields: common + entityFields)
    }

    static func addDatasets(_ builder: Builder) {
        builder.add {
            Type(DatasetNode.self, as: "Dataset", interfaces: [(any RelayNode).self]) {
                Field("id", at: \.id)
                Field("name", at: \.name)
                Field("description", at: \.description)
                Field("metadata", at: \.metadata)
                Field("createdAt", at: \.createdAt)
                Field("updatedAt", at: \.updatedAt)
                Field("exampleCount", at: DatasetNode.exampleCount) { Argument("datasetVersionId", at: \.datasetVersionId) }
                Field("examples", at: DatasetNode.examples) {
                    Argument("datasetVersionId", at: \.datasetVersionId)
                    Argument("first", at: \.first).defaultValue(50)
                    Argument("after", at: \.after)
                }
                Field("versions", at: DatasetNode.versions) {
                    Argument("first", at: \.first).defaultValue(50)
                    Argument("after", at: \.after)
                }
                Field("experimentCount", at: DatasetNode.experimentCount)
                Field("experiments", at: DatasetNode.experiments) {
                    Argument("first", at: \.first).defaultValue(50)
                    Argument("after", at: \.after)
                }
                Field("splits", at: DatasetNode.splits)
                Field("labels", at: DatasetNode.labels)
                Field("evaluatorCount", at: DatasetNode.evaluatorCount)
                Field("datasetEvaluators", at: DatasetNode.datasetEvaluators) {
                    Argument("first", at: \.first).defaultValue(50)
                    Argument("after", at: \.after)
                }
                Field("datasetEvaluator", at: DatasetNode.datasetEvaluator) { Argument("datasetEvaluatorId", at: \.datasetEvaluatorId) }
            }
            Type(DatasetVersionNode.self, as: "DatasetVersion", interfaces: [(any RelayNode).self]) {
                Field("id", at: \.id)
                Field("description", at: \.description)
                Field("metadata", at: \.metadata)
                Field("createdAt", at: \.createdAt)
            }
            Type(DatasetExampleRevisionValue.self, as: "DatasetExampleRevision") {
                Field("input", at: \.input)
                Field("output", at: \.output)
                Field("metadata", at: \.metadata)
                Field("revisionKind", at: \.revisionKind)
                Field("createdAt", at: \.createdAt)
            }
            Type(DatasetExampleNode.self, as: "DatasetExample", interfaces: [(any RelayNode).self]) {
                Field("id", at: \.id)
                Field("externalId", at: \.externalId)
                Field("createdAt", at: \.createdAt)
                Field("dataset", at: DatasetExampleNode.dataset)
                Field("revision", at: DatasetExampleNode.revision) { Argument("datasetVersionId", at: \.datasetVersionId) }
                Field("datasetSplits", at: DatasetExampleNode.datasetSplits)
            }
            Type(DatasetSplitNode.self, as: "DatasetSplit") {
                Field("id", at: \.id)
                Field("name", at: \.name)
                Field("description", at: \.description)
                Field("color", at: \.color)
                Field("metadata", at: \.metadata)
                Field("createdAt", at: \.createdAt)
                Field("updatedAt", at: \.updatedAt)
            }
            Type(DatasetLabelNode.self, as: "DatasetLabel") {
                Field("id", at: \.id)
                Field("name", at: \.name)
                Field("description", at: \.description)
                Field("color", at: \.color)
            }
        }
        addConnection(builder, DatasetNode.self, "Dataset")
        addConnection(builder, DatasetVersionNode.self, "DatasetVersion")
        addConnection(builder, DatasetExampleNode.self, "DatasetExample")
    }

    static func addExperiments(_ builder: Builder) {
        builder.add {
            Type(ExperimentNode.self, as: "Experiment", interfaces: [(any RelayNode).self]) {
                Field("id", at: \.id)
                Field("costSummary", at: ExperimentNode.costSummary)
                Field("name", at: \.name)
                Field("projectName", at: \.projectName)
                Field("description", at: \.description)
                Field("isEphemeral", at: \.isEphemeral)
                Field("isBaseline", at: \.isBaseline)
                Field("repetitions", at: \.repetitions)
                Field("metadata", at: \.metadata)
                Field("createdAt", at: \.createdAt)
                Field("updatedAt", at: \.updatedAt)
                Field("dataset", at: ExperimentNode.dataset)
                Field("datasetVersion", at: ExperimentNode.datasetVersion)
                Field("runs", at: ExperimentNode.runs) {
                    Argument("first", at: \.first).defaultValue(50)
                    Argument("after", at: \.after)
                }
                Field("runCount", at: \.runCount)
                Field("errorRate", at: \.errorRate)
                Field("averageRunLatencyMs", at: ExperimentNode.averageRunLatencyMs)
                Field("project", at: ExperimentNode.project)
                Field("job", at: ExperimentNode.job)
            }
            Type(ExperimentRunNode.self, as: "ExperimentRun", interfaces: [(any RelayNode).self]) {
                Field("id", at: \.id)
                Field("experimentId", at: \.experimentId)
                Field("repetitionNumber", at: \.repetitionNumber)
                Field("traceId", at: \.traceId)
                Field("output", at: \.output)
                Field("startTime", at: \.startTime)
                Field("endTime", at: \.endTime)
                Field("error", at: \.error)
                Field("latencyMs", at: \.latencyMs)
                Field("costSummary", at: ExperimentRunNode.costSummary)
                Field("annotations", at: ExperimentRunNode.annotations) {
                    Argument("first", at: \.first).defaultValue(50)
                    Argument("after", at: \.after)
                }
                Field("example", at: ExperimentRunNode.example)
            }
            Type(ExperimentRunAnnotationNode.self, as: "ExperimentRunAnnotation", interfaces: [(any RelayNode).self]) {
                Field("id", at: \.id)
                Field("name", at: \.name)
                Field("annotatorKind", at: \.annotatorKind)
                Field("label", at: \.label)
                Field("score", at: \.score)
                Field("explanation", at: \.explanation)
                Field("error", at: \.error)
                Field("metadata", at: \.metadata)
                Field("startTime", at: \.startTime)
                Field("endTime", at: \.endTime)
                Field("traceId", at: \.traceId)
            }
        }
        addConnection(builder, ExperimentNode.self, "Experiment")
        addConnection(builder, ExperimentRunNode.self, "ExperimentRun")
        addConnection(builder, ExperimentRunAnnotationNode.self, "ExperimentRunAnnotation")
    }

    static func addPrompts(_ builder: Builder) {
        builder.add {
            Type(PromptNode.self, as: "Prompt", interfaces: [(any RelayNode).self]) {
                Field("id", at: \.id)
                Field("sourcePromptId", at: \.sourcePromptId)
                Field("name", at: \.name)
                Field("description", at: \.description)
                Field("metadata", at: \.metadata)
                Field("createdAt", at: \.createdAt)
                Field("version", at: PromptNode.version) {
                    Argument("versionId", at: \.versionId)
                    Argument("tagName", at: \.tagName)
                }
                Field("versionTags", at: PromptNode.versionTags)
                Field("promptVersions", at: PromptNode.promptVersions) {
                    Argument("first", at: \.first).defaultValue(50)
                    Argument("after", at: \.after)
                }
                Field("sourcePrompt", at: PromptNode.sourcePrompt)
            }
            Type(PromptVersionTagNode.self, as: "PromptVersionTag", interfaces: [(any RelayNode).self]) {
                Field("id", at: \.id)
                Field("promptVersionId", at: \.promptVersionId)
                Field("name", at: \.name)
                Field("description", at: \.description)
            }
            Type(PromptVersionNode.self, as: "PromptVersion", interfaces: [(any RelayNode).self]) {
                Field("id", at: \.id)
                Field("description", at: \.description)
                Field("templateType", at: \.templateType)
                Field("templateFormat", at: \.templateFormat)
                Field("template", at: \.template)
                Field("invocationParameters", at: \.invocationParameters)
                Field("tools", at: \.tools)
                Field("responseFormat", at: \.responseFormat)
                Field("modelName", at: \.modelName)
                Field("modelProvider", at: \.modelProvider)
                Field("metadata", at: \.metadata)
                Field("createdAt", at: \.createdAt)
                Field("sequenceNumber", at: PromptVersionNode.sequenceNumber)
                Field("isLatest", at: PromptVersionNode.isLatest)
                Field("previousVersion", at: PromptVersionNode.previousVersion)
                Field("tags", at: PromptVersionNode.tags)
            }
        }
        addConnection(builder, PromptNode.self, "Prompt")
        addConnection(builder, PromptVersionNode.self, "PromptVersion")
    }
}
