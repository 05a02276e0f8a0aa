"""The Dagster asset that regenerates the insight report from the published copy after each run."""

from pathlib import Path

import dagster as dg

from stigma_insights.assets.publish.assets import ANALYST_MARTS
from stigma_insights.assets.report.figures import headline_metrics, read_figures, summary_sentences
from stigma_insights.assets.report.render import png_preview, preview_markdown, write_report
from stigma_insights.resources import ProjectFiles


@dg.asset(
    key=["published", "insight_report"],
    deps=[ANALYST_MARTS],
    group_name="published",
    kinds={"html"},
    description="One self-contained HTML report of the study's figures with 95% intervals, a generated summary"
    " and a provenance footer, built from the published analyst copy (`stigma-insights report` builds it by hand).",
)
def insight_report(project_files: ProjectFiles) -> dg.MaterializeResult:
    figures = read_figures(Path(project_files.published_file))
    target = write_report(figures, Path(project_files.report_file))
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(target)),
            "preview": dg.MetadataValue.md(preview_markdown(png_preview(figures))),
            "summary": dg.MetadataValue.md("\n".join(f"- {sentence}" for sentence in summary_sentences(figures))),
            # Numeric entries: the UI plots each across the nightly runs.
            **{name: dg.MetadataValue.float(share) for name, share in headline_metrics(figures).items()},
        }
    )
