from .array_image import ArrayImage
from .batch import map_slide_safely, plan_slides, write_summary
from .exporters import (label_polygons, write_area_table, write_geojson,
                        write_label_tiff, write_overview)
from .inference import SlideMapper, infer_slide, load_segmentor
from .settings import SlideSettings
from .slide_reader import SlideError, SlideReader
from .tile_loop import SlidePlan, TileLoop, TileScorer
from .tiling import SlideGrid, blend_window, make_grid, read_tile, tissue_tiles
from .tissue_mask import tissue_mask

__all__ = [
    'SlideReader', 'SlideError', 'ArrayImage', 'SlideGrid', 'make_grid',
    'read_tile', 'tissue_tiles', 'blend_window', 'tissue_mask', 'TileScorer',
    'SlidePlan', 'TileLoop', 'SlideSettings', 'SlideMapper', 'infer_slide',
    'load_segmentor', 'label_polygons', 'write_area_table', 'write_geojson',
    'write_label_tiff', 'write_overview', 'plan_slides', 'map_slide_safely',
    'write_summary'
]
